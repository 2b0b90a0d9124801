/**
 * A parser and validator of the ESXi scripted-install ("kickstart") command set, written from
 * VMware's documented grammar, not from any implementation: VMware vSphere documentation,
 * "Installation and Upgrade Script Commands" (ESXi Installation and Setup; vSphere 5.5 page
 * GUID-61A14EBB-5CF3-43EE-87EF-DB8EC6D83698, same command set through vSphere 8.0), and "About
 * the Default ks.cfg Installation Script" (vSphere 8.0, GUID-51BD0186-50BF-4D0D-8410-79F165918B16).
 *
 * What it checks (the commands and options a statelesx template may use):
 *  - the command section comes first; `#` comments and blank lines are ignored;
 *  - `accepteula`/`vmaccepteula` is present (required), `rootpw` is present once (an install
 *    sets root's password), exactly one of `install`, `upgrade`, `installorupgrade`;
 *  - each command's options are among the documented ones, written `--name` or `--name=value`
 *    as documented (a flag takes no value, a value option needs one), none given twice;
 *  - `install`: exactly one of `--disk=`/`--drive=`/`--firstdisk[=types]`; `--firstdisk` types
 *    are a comma-separated list; `--overwritevmfs` and `--preservevmfs` exclude each other;
 *  - `rootpw [--iscrypted] <password>`: exactly one password word;
 *  - `network --bootproto=dhcp|static` (`--ip=` needed with static), `--addvmportgroup=0|1`;
 *  - `%pre`, `%post`, `%firstboot` sections with `--interpreter=python|busybox` (and, for
 *    `%pre`/`%post`, `--timeout=<secs>` and `--ignorefailure=true|false`); their bodies are
 *    scripts and are not parsed.
 * Test code: it is the oracle the rendered ks.cfg is checked against.
 */

/** One command line of the command section. */
export interface KsCommand {
  name: string;
  /** `--name` → value (`true` for a flag). */
  options: Map<string, string | true>;
  /** Words that are not options (rootpw's password, keyboard's layout ...). */
  args: string[];
  line: number;
}

/** One `%pre` / `%post` / `%firstboot` section. */
export interface KsSection {
  kind: 'pre' | 'post' | 'firstboot';
  options: Map<string, string | true>;
  body: string;
  line: number;
}

export interface Kickstart {
  commands: KsCommand[];
  sections: KsSection[];
}

export class KickstartSyntaxError extends Error {
  override name = 'KickstartSyntaxError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`ks.cfg:${line}: ${message}`);
  }
}

/** `flag`: no value; `value`: `--x=value` required; `optional`: either. */
type OptKind = 'flag' | 'value' | 'optional';

const DISK_SELECT: Record<string, OptKind> = { disk: 'value', drive: 'value', firstdisk: 'optional' };
const UPGRADE_OPTS: Record<string, OptKind> = {
  ...DISK_SELECT,
  ignoressd: 'flag',
  overwritevsan: 'flag',
  overwritevmfs: 'flag',
  forceunsupportedinstall: 'flag',
};

/** The documented commands and their options; `args` = how many plain words (min, max). */
const COMMANDS: Record<string, { opts: Record<string, OptKind>; args: [number, number] }> = {
  accepteula: { opts: {}, args: [0, 0] },
  vmaccepteula: { opts: {}, args: [0, 0] },
  clearpart: {
    opts: { drives: 'value', alldrives: 'flag', ignoredrives: 'value', overwritevmfs: 'flag', firstdisk: 'optional' },
    args: [0, 0],
  },
  dryrun: { opts: {}, args: [0, 0] },
  install: {
    opts: { ...UPGRADE_OPTS, preservevmfs: 'flag', novmfsondisk: 'flag', dpupcislots: 'value' },
    args: [0, 0],
  },
  installorupgrade: { opts: UPGRADE_OPTS, args: [0, 0] },
  upgrade: { opts: { disk: 'value', drive: 'value', firstdisk: 'optional', deletecosvmdk: 'flag' }, args: [0, 0] },
  include: { opts: {}, args: [1, 1] },
  '%include': { opts: {}, args: [1, 1] },
  keyboard: { opts: {}, args: [1, 8] },
  serialnum: { opts: { esx: 'value' }, args: [0, 0] },
  vmserialnum: { opts: { esx: 'value' }, args: [0, 0] },
  network: {
    opts: {
      bootproto: 'value',
      device: 'value',
      ip: 'value',
      gateway: 'value',
      nameserver: 'value',
      netmask: 'value',
      hostname: 'value',
      vlanid: 'value',
      addvmportgroup: 'value',
    },
    args: [0, 0],
  },
  paranoid: { opts: {}, args: [0, 0] },
  part: { opts: { ondisk: 'value', onfirstdisk: 'optional' }, args: [1, 1] },
  partition: { opts: { ondisk: 'value', onfirstdisk: 'optional' }, args: [1, 1] },
  reboot: { opts: { noeject: 'flag' }, args: [0, 0] },
  rootpw: { opts: { iscrypted: 'flag' }, args: [1, 1] },
};

const SECTION_OPTS: Record<KsSection['kind'], Record<string, OptKind>> = {
  pre: { interpreter: 'value', timeout: 'value', ignorefailure: 'value' },
  post: { interpreter: 'value', timeout: 'value', ignorefailure: 'value' },
  firstboot: { interpreter: 'value' },
};

function parseOptions(words: string[], allowed: Record<string, OptKind>, what: string, line: number) {
  const options = new Map<string, string | true>();
  const args: string[] = [];
  for (const w of words) {
    if (!w.startsWith('--')) {
      args.push(w);
      continue;
    }
    const eq = w.indexOf('=');
    const name = (eq < 0 ? w.slice(2) : w.slice(2, eq)).toLowerCase();
    const kind = allowed[name];
    if (!kind) throw new KickstartSyntaxError(line, `${what}: unknown option --${name}`);
    if (options.has(name)) throw new KickstartSyntaxError(line, `${what}: --${name} given twice`);
    if (eq < 0 && kind === 'value') throw new KickstartSyntaxError(line, `${what}: --${name} needs =<value>`);
    if (eq >= 0 && kind === 'flag') throw new KickstartSyntaxError(line, `${what}: --${name} takes no value`);
    const value = eq < 0 ? true : w.slice(eq + 1);
    if (value === '') throw new KickstartSyntaxError(line, `${what}: --${name}= is empty`);
    options.set(name, value);
  }
  return { options, args };
}

function checkCommand(c: KsCommand): void {
  const o = c.options;
  const what = c.name;
  if (c.name === 'install' || c.name === 'upgrade' || c.name === 'installorupgrade') {
    const chosen = ['disk', 'drive', 'firstdisk'].filter((k) => o.has(k));
    if (chosen.length !== 1)
      throw new KickstartSyntaxError(c.line, `${what}: exactly one of --disk=, --drive=, --firstdisk is required`);
    const fd = o.get('firstdisk');
    if (typeof fd === 'string' && !/^[A-Za-z0-9_.:*-]+(,[A-Za-z0-9_.:*-]+)*$/.test(fd))
      throw new KickstartSyntaxError(c.line, `${what}: --firstdisk= wants a comma-separated list of disk types`);
    if (o.has('overwritevmfs') && o.has('preservevmfs'))
      throw new KickstartSyntaxError(c.line, `${what}: --overwritevmfs and --preservevmfs exclude each other`);
  }
  if (c.name === 'network') {
    const bp = o.get('bootproto');
    if (bp !== undefined && bp !== 'dhcp' && bp !== 'static')
      throw new KickstartSyntaxError(c.line, `network: --bootproto must be dhcp or static`);
    if (bp === 'static' && !o.has('ip')) throw new KickstartSyntaxError(c.line, 'network: static needs --ip=');
    const pg = o.get('addvmportgroup');
    if (pg !== undefined && pg !== '0' && pg !== '1')
      throw new KickstartSyntaxError(c.line, 'network: --addvmportgroup must be 0 or 1');
  }
}

/**
 * Parses and validates a ks.cfg.
 * @throws KickstartSyntaxError `ks.cfg:<line>: <message>` at the first violation
 */
export function parseEsxiKickstart(text: string): Kickstart {
  const lines = text.split('\n');
  const commands: KsCommand[] = [];
  const sections: KsSection[] = [];
  let section: KsSection | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const header = /^%(pre|post|firstboot)\b(.*)$/.exec(raw.trim());
    if (header) {
      const kind = header[1] as KsSection['kind'];
      const words = header[2]!.trim().split(/\s+/).filter(Boolean);
      const { options, args } = parseOptions(words, SECTION_OPTS[kind], `%${kind}`, line);
      if (args.length) throw new KickstartSyntaxError(line, `%${kind}: unexpected word "${args[0]}"`);
      const interp = options.get('interpreter');
      if (interp !== undefined && interp !== 'python' && interp !== 'busybox')
        throw new KickstartSyntaxError(line, `%${kind}: --interpreter must be python or busybox`);
      const ign = options.get('ignorefailure');
      if (ign !== undefined && ign !== 'true' && ign !== 'false')
        throw new KickstartSyntaxError(line, `%${kind}: --ignorefailure must be true or false`);
      const timeout = options.get('timeout');
      if (timeout !== undefined && !/^\d+$/.test(String(timeout)))
        throw new KickstartSyntaxError(line, `%${kind}: --timeout must be seconds`);
      section = { kind, options, body: '', line };
      sections.push(section);
      return;
    }
    if (section) {
      section.body += raw + '\n';
      return;
    }
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    const [name, ...words] = t.split(/\s+/);
    const spec = COMMANDS[name!.toLowerCase()];
    if (!spec) throw new KickstartSyntaxError(line, `unknown command "${name}"`);
    const { options, args } = parseOptions(words, spec.opts, name!, line);
    if (args.length < spec.args[0] || args.length > spec.args[1])
      throw new KickstartSyntaxError(line, `${name}: ${args.length} arguments, expected ${spec.args.join('-')}`);
    const c: KsCommand = { name: name!.toLowerCase(), options, args, line };
    checkCommand(c);
    commands.push(c);
  });
  const count = (...names: string[]) => commands.filter((c) => names.includes(c.name)).length;
  if (count('accepteula', 'vmaccepteula') !== 1)
    throw new KickstartSyntaxError(1, 'accepteula or vmaccepteula is required (once)');
  if (count('install', 'upgrade', 'installorupgrade') !== 1)
    throw new KickstartSyntaxError(1, 'exactly one of install, upgrade, installorupgrade is required');
  if (count('install') === 1 && count('rootpw') !== 1) throw new KickstartSyntaxError(1, 'install needs rootpw (once)');
  return { commands, sections };
}
