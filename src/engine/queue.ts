/**
 * The engine's intake, as other subsystems see it. The initiator calls {@link JobQueue.enqueueConfigureHost}
 * when a known host phones home; the console and CLI call it for joins and applies.
 * Implemented by src/engine/jobs.ts; tests may pass any object with this shape.
 */

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
   * @param hostUuid SMBIOS UUID
   * @throws Error when the host is in no cluster
   */
  enqueueConfigureHost(hostUuid: string, origin: JobOrigin): JobRef;
  /** Queues an apply of a whole cluster (every member host plus cluster settings). */
  enqueueApplyCluster(cluster: string, origin: JobOrigin): JobRef;
}
