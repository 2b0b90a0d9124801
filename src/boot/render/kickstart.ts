/**
 * Kickstart (`ks.cfg`) for stateful ESXi installs (VMware "Installation and Upgrade Script
 * Commands": `vmaccepteula`, `install`, `network`, `rootpw`, `reboot`, `%firstboot`), rendered from
 * a logic-less Mustache template per cluster (src/clusters/kickstart.ts: only the fields of
 * {@link KickstartTemplateData}, no code, no prototype access); interpolations are not
 * HTML-escaped (this is not HTML). The clear root password is never passed in: templates get
 * `rootpw`, a SHA-512 crypt hash of the cluster's ESXi password, for `rootpw --iscrypted`.
 *
 * `it.firstboot` is the statelesx `%firstboot` section ({@link initiatorFirstboot}): it writes
 * scripts/initiator.py onto the freshly installed host and runs it once, on its first boot.
 */
import { renderKickstartTemplate, type TemplateProblem } from '../../clusters/kickstart.js';
import { SERVER_KERNEL_ARG } from './context.js';
import { TOKEN_KERNEL_ARG } from '../../hosts/tokens.js';
import { INITIATOR_LOG } from './initiator-bundle.js';

/** Data a kickstart template can use. */
export interface KickstartData {
  /** Host SMBIOS UUID. */
  uuid: string;
  /** Boot MAC (aa:bb:…), or null. */
  mac: string | null;
  cluster: string | null;
  image: string;
  /** `<addr>:<initiator port>` for the phone-home. */
  server: string;
  /** Per-boot phone-home token, or null. */
  token: string | null;
  /** Text of scripts/initiator.py (what {@link initiatorFirstboot} installs). */
  initiator: string;
  /** The install settings of the host's stateful cluster ({@link KickstartInstall}). */
  rootpw: string;
  firstdisk: string;
  overwritevmfs: boolean;
}

/**
 * What a stateful cluster's kickstart installs with (src/app/kickstart-install.ts builds it from
 * the cluster file and its `credentials:` entry).
 */
export interface KickstartInstall {
  /**
   * SHA-512 crypt (`$6$<salt>$<hash>`, glibc crypt(3)) of the cluster's ESXi root password, for
   * `rootpw --iscrypted`; the clear password is never in the rendered file.
   */
  rootpw: string;
  /**
   * `install --firstdisk=` disk types in order (`boot/@firstDisk`: `local`, `remote`, `usb`,
   * comma-separated; default `local`, so a SAN LUN or USB stick is never picked unless listed).
   */
  firstdisk: string;
  /** `boot/@overwriteVmfs` (default false): add `--overwritevmfs` to `install`. */
  overwritevmfs: boolean;
}

/**
 * What a template sees: {@link KickstartData} plus the ready `%firstboot` section, with
 * `overwritevmfs` as `"true"` or null (a Mustache section `{{#overwritevmfs}}` tests it).
 */
export interface KickstartTemplateData extends Omit<KickstartData, 'overwritevmfs'> {
  overwritevmfs: 'true' | null;
  /** {@link initiatorFirstboot} of the same data. */
  firstboot: string;
}

/**
 * Environment variable the `%firstboot` section runs the initiator with (`installed`): it sends
 * `stage=installed`, the install is done (boot-once: the host's later network boots get "boot
 * from local disk" until an admin asks for a reinstall).
 */
export const STAGE_ENV = 'STATELESX_STAGE';

/** Here-document delimiter the `%firstboot` section writes initiator.py with. */
const HEREDOC_END = 'STATELESX_INITIATOR_PY_END';

/** Where the `%firstboot` section puts initiator.py and its boot-command-line file on the host. */
export const FIRSTBOOT_INITIATOR = '/tmp/statelesx-initiator.py';
export const FIRSTBOOT_CMDLINE = '/tmp/statelesx-cmdline';

/**
 * The statelesx `%firstboot --interpreter=busybox` section (VMware "Installation and Upgrade
 * Script Commands"): runs once, on the first boot after the install. That boot comes from the
 * disk's own boot.cfg, so `statelesx.server=` and `statelesx.token=` are not on the VMkernel
 * boot command line: the section writes them (with `BOOTIF=` of the boot MAC) into a file that
 * initiator.py reads through `STATELESX_CMDLINE`, writes initiator.py itself from a quoted
 * here-document (copied byte for byte), and runs it with ESXi's `python` and
 * `STATELESX_STAGE=installed` ({@link STAGE_ENV}: the phone-home says the install is done, so the
 * host boots from its disk from then on — boot-once); its output goes to
 * {@link INITIATOR_LOG}. The token is the one issued when ks.cfg was rendered (single use,
 * valid `initiator.token-ttl-s`).
 * @throws Error when the initiator text contains the here-document delimiter line (it would end early)
 */
export function initiatorFirstboot(data: Pick<KickstartData, 'server' | 'token' | 'mac' | 'initiator'>): string {
  if (data.initiator.split('\n').includes(HEREDOC_END))
    throw new Error(`initiator.py contains the line ${HEREDOC_END}`);
  const script = data.initiator.endsWith('\n') ? data.initiator : data.initiator + '\n';
  const cmdline = [`${SERVER_KERNEL_ARG}=${data.server}`];
  if (data.token) cmdline.push(`${TOKEN_KERNEL_ARG}=${data.token}`);
  if (data.mac) cmdline.push(`BOOTIF=01-${data.mac.toLowerCase().replace(/:/g, '-')}`);
  return [
    '%firstboot --interpreter=busybox',
    '# statelesx: phone home once so statelesx joins this host to its cluster (scripts/README.md)',
    `cat > ${FIRSTBOOT_INITIATOR} <<'${HEREDOC_END}'`,
    script + HEREDOC_END,
    `echo '${cmdline.join(' ')}' > ${FIRSTBOOT_CMDLINE}`,
    `${STAGE_ENV}=installed STATELESX_CMDLINE=${FIRSTBOOT_CMDLINE} python ${FIRSTBOOT_INITIATOR} </dev/null >> ${INITIATOR_LOG} 2>&1 || true`,
    `rm -f ${FIRSTBOOT_CMDLINE}`,
    '',
  ].join('\n');
}

/** The template used when a cluster has none of its own (`-` when the host is in no cluster). */
export const DEFAULT_KICKSTART_TEMPLATE = `# statelesx kickstart for {{uuid}} (cluster {{cluster}}{{^cluster}}-{{/cluster}}, image {{image}})
vmaccepteula
rootpw --iscrypted {{rootpw}}
install --firstdisk={{firstdisk}}{{#overwritevmfs}} --overwritevmfs{{/overwritevmfs}}
network --bootproto=dhcp
reboot

{{firstboot}}`;

/** A template problem, naming the template and (when known) the line. */
export class KickstartTemplateError extends Error {
  override name = 'KickstartTemplateError';
}

/**
 * Renders a kickstart file with the checks cluster files are loaded with
 * ({@link renderKickstartTemplate}: no escaping, the fields of {@link KickstartTemplateData}).
 * @param template Mustache template text
 * @param name template name for error messages (e.g. the file path)
 * @throws KickstartTemplateError `<name>[:<line>[:<column>]]: <message>` when the template does
 *   not parse or names something other than a field
 */
export function renderKickstart(template: string, data: KickstartData, name = 'kickstart template'): string {
  try {
    const it: KickstartTemplateData = {
      ...data,
      overwritevmfs: data.overwritevmfs ? 'true' : null,
      firstboot: initiatorFirstboot(data),
    };
    return renderKickstartTemplate(template, it);
  } catch (e) {
    const err = e as Error;
    const p: TemplateProblem = (err.cause as TemplateProblem | undefined) ?? { message: err.message };
    const where = p.line === undefined ? name : `${name}:${p.line}${p.column === undefined ? '' : `:${p.column}`}`;
    throw new KickstartTemplateError(`${where}: ${p.message}`);
  }
}
