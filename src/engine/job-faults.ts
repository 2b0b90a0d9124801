/**
 * How the engine's job rounds (src/engine/job-round.ts) classify errors: transient (retry after a
 * backoff, re-reading vCenter) or permanent (fail the job), their one-line description, and the
 * SMBIOS UUID comparison that checks AddHost_Task added the declared machine.
 */
import {
  AlreadyConnected,
  HostConnectFault,
  InvalidLogin,
  isTransientFault,
  ManagedObjectNotFound,
  SSLVerifyFault,
  VsphereFault,
} from '../vsphere/faults.js';
import { normalizeUuid, swapUuidByteOrder } from '../hosts/identity.js';
import { PermanentStepError } from './apply.js';
import { PlanError } from './plan.js';

/** Faults that are a definite "no" from vCenter, even though their class is HostConnectFault. */
export function isTransient(e: unknown): boolean {
  if (e instanceof PermanentStepError || e instanceof PlanError || e instanceof InvalidLogin) return false;
  if (e instanceof SSLVerifyFault || e instanceof AlreadyConnected) return false;
  if (e instanceof HostConnectFault && e.faultName === 'HostConnectFault') return true;
  // A task or object that vanished (e.g. the session that owned a task was logged out and logged
  // in again) is ambiguous: retry, which re-reads vCenter and re-plans from what really happened.
  if (e instanceof ManagedObjectNotFound) return true;
  return isTransientFault(e);
}

/** A fault or error as one line for the job log. */
export function describe(e: unknown): string {
  if (e instanceof VsphereFault) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Whether two SMBIOS UUIDs name the same machine, in either byte order of the first three fields. */
export function sameHardware(a: string, b: string): boolean {
  const x = normalizeUuid(a);
  const y = normalizeUuid(b);
  return !!x && !!y && (x === y || swapUuidByteOrder(x) === y);
}
