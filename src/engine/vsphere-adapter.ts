/**
 * The vSphere engine adapter's public names, re-exported so callers keep one import path:
 * {@link VsphereVcenter} (src/engine/vsphere-vcenter.ts: reads, identity cache, create-once memo)
 * and the connectors (src/engine/vsphere-connect.ts). Mapping: src/engine/vsphere-map.ts;
 * one-call methods: src/engine/vsphere-passthrough.ts.
 */
export { VsphereVcenter } from './vsphere-vcenter.js';
export { connectVcenter, esxiConnector, vcenterConnector } from './vsphere-connect.js';
