/**
 * The engine's intake, as other subsystems see it. The initiator calls {@link JobQueue.enqueueConfigureHost}
 * when a known host phones home; the console and CLI call it for joins and applies.
 * Implemented by src/engine/jobs.ts; tests may pass any object with this shape.
 */

import type { QueuePlace } from './admission.js';

export type { QueuePlace, WaitReason } from './admission.js';

/** Why a job was requested (recorded with the job). */
export interface JobOrigin {
  /** `initiator`, `api`, `cli`, `drift`. */
  source: string;
  /** User name or host address. */
  actor?: string | undefined;
}

export interface JobRef {
  id: string;
  /** True when a job for the same target was already queued or running and was returned instead. */
  existing: boolean;
}

export interface JobQueue {
  /**
   * Queues the configure job for a host declared in a cluster file (or assigned in the store).
   * One job per host at a time: a second call while one is queued/running returns that job; while
   * another kind of job (apply-cluster) holds the host, this one waits for it to finish.
   * Resolves once the job is recorded in the store.
   * @param hostUuid SMBIOS UUID
   * @throws Error when the host is in no cluster (rejects); the store's errors
   */
  enqueueConfigureHost(hostUuid: string, origin: JobOrigin): Promise<JobRef>;
  /** Queues an apply of a whole cluster (every member host plus cluster settings). @throws as above */
  enqueueApplyCluster(cluster: string, origin: JobOrigin): Promise<JobRef>;
}

/** What {@link JobControl.cancel} did. */
export type CancelOutcome =
  /** The job had not started (or no runner held it): it ended `cancelled` now. */
  | 'cancelled'
  /** The job is running: its current step finishes, then it ends `cancelled` before the next one. */
  | 'cancelling'
  /** No such job. */
  | 'missing'
  /** The job had already finished (its state is returned with the outcome). */
  | 'finished';

/** What {@link JobControl.retry} did. */
export type RetryOutcome =
  | { outcome: 'queued'; ref: JobRef }
  | { outcome: 'missing' }
  /** Only `failed`, `cancelled` and `blocked` jobs are retried. */
  | { outcome: 'not-retryable'; state: string }
  /** The job's cluster or host is no longer in a cluster file. */
  | { outcome: 'gone'; reason: string };

/** What {@link JobControl.removeHost} did. */
export type RemoveHostOutcome =
  | { outcome: 'queued'; ref: JobRef }
  /** A job of the host (its own, or an apply/drift of its cluster) is queued or running. */
  | { outcome: 'busy'; jobId: string; kind: string; reason: string }
  /** No vCenter can be told for the host (no cluster file, several vCenters). */
  | { outcome: 'no-vcenter'; reason: string };

/** Admin verbs on jobs (issue 19 item 3); each resolves once the store has recorded it. Implemented by src/engine/jobs.ts. */
export interface JobControl {
  /**
   * Queues a `remove-host` job: the host leaves vCenter (maintenance mode, Destroy_Task), then the
   * store forgets it. `cluster` = the store's assignment of the host (helps find its vCenter).
   */
  removeHost(hostUuid: string, origin: JobOrigin, cluster?: string | null): Promise<RemoveHostOutcome>;
  /** Cancels a queued job at once, or a running one between steps. */
  cancel(jobId: string, actor: string): Promise<{ outcome: CancelOutcome; state?: string }>;
  /** Queues a new job of the same kind and target as a failed, cancelled or blocked one. */
  retry(jobId: string, origin: JobOrigin): Promise<RetryOutcome>;
}

/** Where queued jobs stand (issue 19 item 5). Implemented by src/engine/jobs.ts. */
export interface QueueView {
  /**
   * Every job queued and not started: its 1-based position in its vCenter's admission order and
   * why it waits. Job id → place; running and finished jobs are absent.
   */
  queued(): Map<string, QueuePlace>;
}
