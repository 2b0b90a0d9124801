/**
 * The import rules between src/ folders (eslint.config.js, docs/architecture.md "Import rules")
 * fire: ESLint's Node API lints one-line snippets as if they were files in each folder, with the
 * repository's own config (type-aware parsing off: the snippets are not on disk, and the rule
 * needs no types).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const ROOT = join(import.meta.dirname, '../..');
let eslint: ESLint;

/** Messages of no-restricted-imports for `code` linted as `file` (a path under the repository). */
async function restricted(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(`${code}\nexport const used = x;\n`, { filePath: join(ROOT, file) });
  return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

beforeAll(() => {
  eslint = new ESLint({
    cwd: ROOT,
    overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }],
  });
});

describe('import rules', () => {
  it('src/boot never imports the vSphere engine or the web app', async () => {
    expect(await restricted('src/boot/files/fixture.ts', "import { x } from '../../engine/jobs.js';")).toEqual([
      expect.stringMatching(/never import the vSphere engine/) as unknown,
    ]);
    expect(await restricted('src/boot/http/fixture.ts', "import type { x } from '../../web/deps.js';")).toEqual([
      expect.stringMatching(/never import the web app/) as unknown,
    ]);
    expect(await restricted('src/boot/files/fixture.ts', "import { x } from '../../hosts/policy.js';")).toEqual([]);
  });

  it('protocol code never imports src/config, not even a type', async () => {
    for (const file of ['src/boot/tftp/fixture.ts', 'src/boot/dhcp/fixture.ts', 'src/vsphere/fixture.ts']) {
      const depth = file.split('/').length - 2;
      const spec = `${'../'.repeat(depth)}config/schema.js`;
      expect(await restricted(file, `import type { x } from '${spec}';`), file).toEqual([
        expect.stringMatching(/takes its settings as arguments/) as unknown,
      ]);
    }
    expect(await restricted('src/phonehome/parse.ts', "import { x } from '../config/schema.js';")).toHaveLength(1);
    // The rest of src/phonehome wires the listener from the configuration.
    expect(await restricted('src/phonehome/index.ts', "import { x } from '../config/schema.js';")).toEqual([]);
  });

  it('src/web reaches the store through its index only', async () => {
    expect(await restricted('src/web/api/fixture.ts', "import { x } from '../../store/users.js';")).toEqual([
      expect.stringMatching(/through src\/store\/index\.ts only/) as unknown,
    ]);
    expect(await restricted('src/web/api/fixture.ts', "import { x } from '../../store/index.js';")).toEqual([]);
  });

  it('src/vsphere imports nothing from the engine, the web app or the store', async () => {
    for (const target of ['engine/plan.js', 'web/deps.js', 'store/index.js'])
      expect(await restricted('src/vsphere/fixture.ts', `import { x } from '../${target}';`), target).toHaveLength(1);
  });

  it('only src/cli and src/bench import the composition root (src/app)', async () => {
    expect(await restricted('src/clusters/fixture.ts', "import { x } from '../app/server.js';")).toHaveLength(1);
    expect(await restricted('src/web/api/fixture.ts', "import { x } from '../../app/web-adapters.js';")).toHaveLength(
      1,
    );
    expect(await restricted('src/fixture.ts', "import { x } from './app/server.js';")).toHaveLength(1);
    expect(await restricted('src/cli/fixture.ts', "import { x } from '../app/server.js';")).toEqual([]);
    expect(await restricted('src/bench/fixture.ts', "import { x } from '../app/server.js';")).toEqual([]);
    expect(await restricted('src/app/fixture.ts', "import { x } from './server.js';")).toEqual([]);
    // A folder's own server module is not the root.
    expect(await restricted('src/boot/tftp/fixture.ts', "import { x } from './server.js';")).toEqual([]);
  });

  it('no file is exempt: the former breaches are held to the rules of their area', async () => {
    // These files took the Config type or the store's user repository until issue 15 gave them
    // their own options types and the store's surface; the rule now fires in them like anywhere.
    for (const file of ['src/boot/tftp/server.ts', 'src/boot/dhcp/server.ts']) {
      expect(await restricted(file, "import type { x } from '../../config/schema.js';"), file).toHaveLength(1);
      expect(await restricted(file, "import { x } from '../../engine/jobs.js';"), file).toHaveLength(1);
    }
    expect(await restricted('src/vsphere/client.ts', "import type { x } from '../config/schema.js';")).toHaveLength(1);
    for (const file of ['src/web/api/users.ts', 'src/web/auth/plugin.ts', 'src/web/auth/roles.ts'])
      expect(await restricted(file, "import type { x } from '../../store/users.js';"), file).toHaveLength(1);
  });
});

describe('size rules', () => {
  /** Rule ids of the size messages for `code` linted as `file`. */
  async function sizeBreaches(file: string, code: string): Promise<string[]> {
    const [r] = await eslint.lintText(code, { filePath: join(ROOT, file) });
    return r!.messages.map((m) => m.ruleId ?? '').filter((id) => id.startsWith('max-lines'));
  }
  const statements = (n: number) => Array.from({ length: n }, (_, i) => `  sum += ${i};`).join('\n');
  const fn = (n: number) => `export function f(): number {\n  let sum = 0;\n${statements(n)}\n  return sum;\n}\n`;

  it('a function under src/ holds at most 80 lines of code; comments and blank lines are free', async () => {
    expect(await sizeBreaches('src/boot/fixture.ts', fn(76))).toEqual([]);
    expect(await sizeBreaches('src/boot/fixture.ts', fn(77))).toEqual(['max-lines-per-function']);
    const documented = fn(76).replace('let sum = 0;', 'let sum = 0;\n\n  // why\n  /* and how */\n');
    expect(await sizeBreaches('src/boot/fixture.ts', documented)).toEqual([]);
  });

  it('a file under src/ holds at most 400 lines of code, unless its header says why', async () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `export const c${i} = ${i};`).join('\n') + '\n';
    expect(await sizeBreaches('src/boot/fixture.ts', lines(400))).toEqual([]);
    expect(await sizeBreaches('src/boot/fixture.ts', lines(401))).toEqual(['max-lines']);
    const excused = `/* eslint-disable max-lines -- a data table reads best whole */\n${lines(401)}`;
    expect(await sizeBreaches('src/boot/fixture.ts', excused)).toEqual([]);
    // Tests are not held to it.
    expect(await sizeBreaches('test/unit/fixture.test.ts', lines(401))).toEqual([]);
  });
});
