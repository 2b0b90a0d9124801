/**
 * vSphere methods by what a call does to vCenter: reads inventory or configuration, plumbing of
 * sessions and PropertyCollectors, or anything else, which may change state ("mutating"). One
 * classification for the engine's call counters (src/engine/vsphere-passthrough.ts: idempotence
 * is zero mutating calls) and the engine benchmark's duplicate-read check (src/bench/engine.ts).
 */

/**
 * Methods that only read: PropertyCollector retrievals, SearchIndex lookups, OptionManager and
 * HostNetworkSystem queries. Repeating one with no change in between reads the same answer.
 */
export const READ_METHODS: ReadonlySet<string> = new Set([
  'RetrievePropertiesEx',
  'RetrieveProperties',
  'FindByUuid',
  'FindByInventoryPath',
  'FindByIp',
  'FindByDnsName',
  'QueryOptions',
  'QueryNetConfig',
]);

/**
 * Session and collector plumbing: ServiceInstance/SessionManager calls, paging
 * (`ContinueRetrievePropertiesEx`), filters and update waits. Neither a read of state nor a change.
 */
export const SESSION_METHODS: ReadonlySet<string> = new Set([
  'RetrieveServiceContent',
  'Login',
  'Logout',
  'ContinueRetrievePropertiesEx',
  'CreateFilter',
  'DestroyPropertyFilter',
  'WaitForUpdatesEx',
  'WaitForUpdates',
  'CancelWaitForUpdates',
  'CreatePropertyCollector',
  'DestroyPropertyCollector',
]);

/** Whether a call of `method` (a vim25 method name) may change vCenter: neither a read nor plumbing. */
export function isMutating(method: string): boolean {
  return !READ_METHODS.has(method) && !SESSION_METHODS.has(method);
}
