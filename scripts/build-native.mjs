#!/usr/bin/env node
/* global process */
/**
 * Builds the native TFTP data plane (src/boot/tftp/native/dataplane.c, a Node-API addon) with node-gyp,
 * and in the production build also the HTTP boot sender (src/boot/http/native/sendfile.c →
 * build/Release/http_sendfile.node; binding.gyp has all three targets; without it /boot/ copies through
 * user-space buffers) and malloc_trim (src/memory/native/trim.c → build/Release/malloc_trim.node; without
 * it freed memory is not given back to the kernel).
 *
 *   node scripts/build-native.mjs              production build into build/Release/tftp_dataplane.node
 *                                              (the `install` script: see "Without a compiler" below)
 *   node scripts/build-native.mjs sanitize     AddressSanitizer + UndefinedBehaviorSanitizer build into
 *                                              build-sanitize/build/Release/ (`STATELESX_SANITIZE=1 npm run fuzz`)
 *   node scripts/build-native.mjs race         test build with -DSTATELESX_RACE_HOOK into build-race/build/Release/:
 *                                              reads STATELESX_DATAPLANE_RACE_US (a pause widening the window
 *                                              between a thread's "done" event and its last act) and poisons
 *                                              freed transfers; used by test/integration/tftp-native-race.test.ts
 *
 * Prints the path of the built addon on stdout as its last line.
 *
 * Without a compiler: a failed production build prints ONE warning on stderr and exits 0, so that
 * `npm install` still installs and the server runs every transfer on the JavaScript data plane
 * (it says so in its start-up log). When `CI` or `STATELESX_REQUIRE_NATIVE` is set, or for the
 * sanitize and race variants, a failed build exits 1 instead: a machine that has a compiler must
 * never silently lose the native data plane (test/integration/tftp-native.test.ts also asserts it loaded).
 *
 * node-gyp: the one npm runs scripts with (`npm_config_node_gyp`), else npm's bundled one beside
 * node, else `node-gyp` on PATH.
 * Environment for tests: STATELESX_NATIVE_OUT (directory of a production build instead of the
 * package root; the test of the no-compiler path builds there so it never touches build/).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/boot/tftp/native/dataplane.c');
const variant = process.argv[2] ?? 'production';
const variants = {
  production: { dir: process.env.STATELESX_NATIVE_OUT, cflags: [], ldflags: [], defines: [] },
  sanitize: {
    dir: join(root, 'build-sanitize'),
    cflags: ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=undefined', '-g'],
    ldflags: ['-fsanitize=address,undefined'],
    defines: [],
  },
  race: { dir: join(root, 'build-race'), cflags: ['-g'], ldflags: [], defines: ['STATELESX_RACE_HOOK'] },
};
const v = variants[variant];
if (!v) {
  process.stderr.write(`usage: build-native.mjs [${Object.keys(variants).join('|')}]\n`);
  process.exit(2);
}

/** A binding.gyp for a build outside the package root (same target as the root binding.gyp, plus flags). */
function variantGyp(dir) {
  mkdirSync(dir, { recursive: true });
  const gyp = {
    targets: [
      {
        target_name: 'tftp_dataplane',
        sources: [relative(dir, source)],
        cflags: ['-O1', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', ...v.cflags],
        ldflags: v.ldflags,
        libraries: ['-lm', '-lpthread'],
        defines: ['NAPI_DISABLE_CPP_EXCEPTIONS', ...v.defines],
      },
    ],
  };
  writeFileSync(join(dir, 'binding.gyp'), JSON.stringify(gyp, null, 2) + '\n');
}

const dir = v.dir ?? root;
if (v.dir) variantGyp(dir);
// npm's bundled node-gyp sits beside node (…/bin/node → …/lib/node_modules/npm/…) when not run by npm.
const bundled = join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
const [cmd, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
// The running node's own headers when they are installed beside it (distribution packages), so
// that a build outside npm (tests, fuzz) needs no download, like npm's `nodedir` setting.
const prefix = resolve(dirname(process.execPath), '..');
const nodedir =
  !process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
const r = spawnSync(cmd, [...args, 'rebuild', `--directory=${dir}`, ...nodedir], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const addon = join(dir, 'build/Release/tftp_dataplane.node');
if (r.status === 0 && existsSync(addon)) {
  process.stdout.write(addon + '\n');
  process.exit(0);
}
const why = r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`;
const strict = variant !== 'production' || Boolean(process.env.CI) || Boolean(process.env.STATELESX_REQUIRE_NATIVE);
if (strict) {
  process.stderr.write(`build-native: the ${variant} build of the TFTP data plane failed (${why})\n`);
  process.exit(1);
}
process.stderr.write(
  `statelesx: WARNING: the native TFTP data plane was not built (${why}); TFTP transfers will run on the ` +
    `JavaScript data plane. Install a C compiler, make and python3, then run npm run build:native.\n`,
);
process.exit(0);
