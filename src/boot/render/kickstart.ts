/**
 * Kickstart (`ks.cfg`) for stateful ESXi installs (VMware "Installation and Upgrade Script
 * Commands": `vmaccepteula`, `install`, `network`, `rootpw`, `reboot`, `%firstboot`), rendered from
 * an Eta template per cluster. Templates see `it` = {@link KickstartData}; interpolations are not
 * XML-escaped (this is not HTML). Secrets are not passed in: a template that needs a root
 * password uses `rootpw --iscrypted` with a hash it holds itself.
 */
import { Eta } from 'eta';

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
}

/** The template used when a cluster has none of its own. */
export const DEFAULT_KICKSTART_TEMPLATE = `# statelesx kickstart for <%= it.uuid %> (cluster <%= it.cluster ?? '-' %>, image <%= it.image %>)
vmaccepteula
install --firstdisk --overwritevmfs
network --bootproto=dhcp
reboot

%firstboot --interpreter=busybox
# phone home so statelesx joins this host to its cluster
echo "uuid=<%= it.uuid %> token=<%= it.token ?? '' %>" | nc <%= it.server.replace(':', ' ') %> || true
`;

/** A template problem, naming the template and (when known) the line. */
export class KickstartTemplateError extends Error {
  override name = 'KickstartTemplateError';
}

const eta = new Eta({ autoEscape: false, autoTrim: false, cache: false, useWith: false });

/**
 * Renders a kickstart file.
 * @param template Eta template text
 * @param name template name for error messages (e.g. the file path)
 * @throws KickstartTemplateError when the template does not parse or throws while rendering
 */
export function renderKickstart(template: string, data: KickstartData, name = 'kickstart template'): string {
  try {
    return eta.renderString(template, data);
  } catch (e) {
    throw new KickstartTemplateError(`${name}: ${(e as Error).message}`);
  }
}
