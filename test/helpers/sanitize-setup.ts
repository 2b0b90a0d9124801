/**
 * Setup file of `STATELESX_SANITIZE=1 npm run fuzz` (vitest.fuzz.config.ts): the test worker was
 * started with the ASan runtime preloaded (it must be the first library of the process that loads
 * the sanitized addon), but the peers the tests spawn (curl, atftp, tftp-hpa) must not inherit
 * the preload: curl hangs under it. Dropping LD_PRELOAD here affects only those children.
 */
delete process.env['LD_PRELOAD'];
