/**
 * Cluster-level inventory steps, once per cluster: when many configure-host jobs for a cluster that
 * does not exist yet run at once (hosts PXE-boot together), each of them plans CreateClusterEx.
 * {@link CreateOnce} lets one CreateDatacenter/CreateClusterEx per (folder, name) reach vCenter: a
 * concurrent or later request for the same (folder, name) waits for it and answers
 * {@link DuplicateName} itself — what vCenter would answer — without a call (engine/apply treats
 * DuplicateName as "already exists"). The memo is dropped when a read that started after the
 * creation finished no longer finds the object ({@link CreateOnce.gone}). Identical concurrent
 * calls (ReconfigureComputeResource_Task on a cluster) are joined by {@link CreateOnce.join}.
 */
import { DuplicateName } from '../vsphere/faults.js';
import type { MoRef } from '../vsphere/types.js';

/** A CreateDatacenter/CreateClusterEx that reached vCenter from this adapter. */
interface Creation {
  promise: Promise<MoRef>;
  /** Read-pass epoch at which it finished; undefined while in flight. */
  doneEpoch?: number;
}

/** The create-once memo of one vCenter connection (see the module docstring). */
export class CreateOnce {
  /** `${folder}\n${name}` → creation. */
  private readonly creations = new Map<string, Creation>();
  /** Key → identical call in flight. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private epoch = 0;

  /** Starts a read pass; returns its epoch (for {@link gone}). */
  nextEpoch(): number {
    return ++this.epoch;
  }

  /** Forgets a creation memo once a read that began after it finished no longer finds the object. */
  gone(folder: MoRef | null, name: string, readEpoch: number): void {
    if (!folder) return;
    const key = `${folder.value}\n${name}`;
    const c = this.creations.get(key);
    if (c?.doneEpoch !== undefined && c.doneEpoch < readEpoch) this.creations.delete(key);
  }

  /**
   * Lets one creation per (folder, name) reach vCenter; others wait for it and get DuplicateName,
   * as vCenter would answer them. Returns the created object's MoRef value.
   * @param known called with the created object (also for the answered-without-a-call requests)
   * @throws DuplicateName for every request after the first; the creation's own error otherwise
   */
  async run(
    folder: MoRef,
    name: string,
    method: string,
    create: () => Promise<MoRef>,
    known?: (obj: MoRef) => void,
  ): Promise<string> {
    const key = `${folder.value}\n${name}`;
    const earlier = this.creations.get(key);
    if (earlier) {
      const obj = await earlier.promise;
      known?.(obj);
      throw new DuplicateName(
        'DuplicateName',
        `${name} was already created by a concurrent job on this connection (answered without a call)`,
        { name, object: obj },
        method,
      );
    }
    const entry: Creation = { promise: create() };
    this.creations.set(key, entry);
    try {
      const obj = await entry.promise;
      entry.doneEpoch = this.epoch;
      known?.(obj);
      return obj.value;
    } catch (e) {
      this.creations.delete(key);
      throw e;
    }
  }

  /** Runs `call` unless an identical one (same `key`) is in flight, in which case it awaits that one. */
  async join(key: string, call: () => Promise<void>): Promise<void> {
    const inFlight = this.inFlight.get(key);
    if (inFlight) return inFlight;
    const p = call();
    this.inFlight.set(key, p);
    try {
      await p;
    } finally {
      this.inFlight.delete(key);
    }
  }
}
