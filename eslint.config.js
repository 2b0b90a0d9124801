// ESLint flat config: type-aware typescript-eslint over src/, test/ and scripts (recommendedTypeChecked),
// with the promise rules an async network server needs, and the import rules between src/ folders.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// ── Import rules (docs/architecture.md, "Import rules") ─────────────────────────────────────────
// ESLint's own no-restricted-imports with regex patterns (dependency-cruiser needs Node >= 22).
// Import specifiers are relative, so a target is matched by its folder name after one or more
// `../` (no src/ folder repeats these names lower down). In a flat config a later block replaces
// an earlier block's options for the same rule, so each area lists every target it forbids.
const TARGET = {
  app: {
    regex: '^(\\.\\./)+app/',
    message: 'only src/cli and src/bench import the composition root (src/app)',
  },
  rootApp: { regex: '^\\./app/', message: 'only src/cli and src/bench import the composition root (src/app)' },
  engine: {
    regex: '^(\\.\\./)+engine/',
    message: 'src/boot and src/vsphere never import the vSphere engine (src/engine)',
  },
  web: { regex: '^(\\.\\./)+web/', message: 'src/boot and src/vsphere never import the web app (src/web)' },
  config: {
    regex: '^(\\.\\./)+config/',
    message:
      'protocol code (TFTP, DHCP, phone-home parsing, vSphere) takes its settings as arguments, never from src/config',
  },
  store: { regex: '^(\\.\\./)+store/', message: 'src/vsphere never imports the store' },
  storeInternals: {
    regex: '^(\\.\\./)+store/(?!index(\\.js)?$)',
    message: 'src/web imports the store through src/store/index.ts only, not its repositories',
  },
};
/** Areas from general to specific: the last block matching a file decides its rule options. */
const AREAS = {
  src: { files: ['src/**/*.ts'], ignores: ['src/app/**', 'src/cli/**', 'src/bench/**'], forbid: ['app'] },
  srcRoot: { files: ['src/*.ts'], forbid: ['rootApp'] },
  boot: { files: ['src/boot/**/*.ts'], forbid: ['app', 'engine', 'web'] },
  bootProtocol: {
    files: ['src/boot/tftp/**/*.ts', 'src/boot/dhcp/**/*.ts'],
    forbid: ['app', 'engine', 'web', 'config'],
  },
  phonehomeParse: { files: ['src/phonehome/parse.ts'], forbid: ['app', 'config'] },
  vsphere: { files: ['src/vsphere/**/*.ts'], forbid: ['app', 'engine', 'web', 'store', 'config'] },
  web: { files: ['src/web/**/*.ts'], forbid: ['app', 'storeInternals'] },
};
const restrict = (names) => ({
  'no-restricted-imports': [
    'error',
    { patterns: names.map((n) => ({ regex: TARGET[n].regex, message: TARGET[n].message })) },
  ],
});
const importRules = Object.values(AREAS).map(({ forbid, ...where }) => ({ ...where, rules: restrict(forbid) }));

// ── Size rules (CONTRIBUTING.md): a file under src/ stays within 400 lines of code, a function
// within 80. Blank lines and comments do not count, so the docstrings the standards ask for never
// push code out of a file. Where a whole reads best (a data table, a protocol state machine), the
// file or function says why in its header: `/* eslint-disable max-lines -- <why> */` or
// `// eslint-disable-next-line max-lines-per-function -- <why>`.
const sizeRules = {
  files: ['src/**/*.ts'],
  rules: {
    'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
    'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
  },
};

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'data/**',
      'images/**',
      'coverage/**',
      'build/**',
      'src/web/public/vendor/**',
      'test/peers/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  ...importRules,
  sizeRules,
);
