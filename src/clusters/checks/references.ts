/**
 * Checks of what a cluster file names outside itself (statelesx.yaml, the image store) and of its cluster
 * services.
 */
import { known, type SectionCheck } from './section.js';

/** vCenter, credentials and images named by the file exist. */
export const checkReferences: SectionCheck = ({ c, ctx, err }) => {
  if (ctx.vcenters && !ctx.vcenters.includes(c.vcenter)) {
    err(
      '/cluster/vcenter',
      `vCenter "${c.vcenter}" is not declared under vcenters: in the server configuration` + known(ctx.vcenters),
    );
  }
  if (ctx.credentials && !ctx.credentials.includes(c.credentials)) {
    err(
      '/cluster/credentials',
      `credentials "${c.credentials}" are not declared under credentials: in the server configuration` +
        known(ctx.credentials),
    );
  }
  if (ctx.imageExists) {
    if (c.image && !ctx.imageExists(c.image)) err('/cluster/defaultImage', `image "${c.image}" does not exist`);
    c.hosts.forEach((h, i) => {
      if (h.image && !ctx.imageExists!(h.image))
        err(`/cluster/members/host[${i + 1}]/@image`, `image "${h.image}" pinned for ${h.fqdn} does not exist`);
    });
  }
};

/** Cluster services that need each other (DPM needs DRS). */
export const checkServices: SectionCheck = ({ c, err }) => {
  if (c.dpm.enabled && !c.drs.enabled) err('/cluster/dpm/@enabled', 'DPM needs DRS: enable DRS or disable DPM');
};
