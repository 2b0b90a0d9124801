/**
 * Waiting for vSphere tasks (vim.Task) through the PropertyCollector.
 *
 * 1. Fast path: one RetrievePropertiesEx of `info`; a task that already finished (the simulator's
 *    tasks complete before their MoRef is returned; short vCenter tasks often too) costs one call.
 * 2. Otherwise, on one session: CreatePropertyCollector (a private collector, so concurrent waits
 *    do not see each other's updates), CreateFilter on the task's `info`, then WaitForUpdatesEx
 *    with `maxWaitSeconds` until `info.state` is success or error (queued → running → success),
 *    then DestroyPropertyCollector (its filter goes with it).
 * 3. If the collector cannot be used (NotSupported, or it vanished: ManagedObjectNotFound), RetrievePropertiesEx
 *    polling of `info` with a growing interval (0.5 s … 5 s).
 * All bounded by `timeoutMs`; a task error becomes the typed fault (faults.ts), e.g.
 * AddHost_Task's SSLVerifyFault carrying the host's thumbprint.
 */
import {
  faultFromLocalized,
  ManagedObjectNotFound,
  NotSupported,
  TaskFailedError,
  VsphereTimeoutError,
  type VsphereFault,
} from './faults.js';
import {
  CreateFilter,
  CreatePropertyCollector,
  DestroyPropertyCollector,
  WaitForUpdatesEx,
  type Caller,
} from './ops.js';
import type { TaskInfo } from './types.js';
import { child, decode, first, list, text, type MoRef, type XmlNode } from './xml.js';

/** Options of {@link waitForTask}. */
export interface WaitForTaskOptions {
  /** Overall deadline in ms (default 10 min). */
  timeoutMs?: number;
  /** maxWaitSeconds of each WaitForUpdatesEx (default 30, capped by the time left). */
  maxWaitSeconds?: number;
  /** Check `info` once before creating a filter (default true). */
  fastPath?: boolean;
  /** Called with each state seen (queued, running, ...) and progress. */
  onProgress?: (info: TaskInfo) => void;
  /** The method that created the task (for error messages), e.g. `AddHost_Task`. */
  method?: string;
}

/** A task's state as decoded from a TaskInfo element, and its fault when it failed. */
export interface TaskSnapshot {
  info: TaskInfo;
  fault?: VsphereFault;
}

/** Decodes a TaskInfo element (`info` property / change value). */
export function taskSnapshot(node: XmlNode | undefined, method?: string): TaskSnapshot {
  const info = (decode(node, 'TaskInfo') ?? {}) as TaskInfo & { error?: unknown };
  delete info.error;
  const err = first(node, 'error');
  return err !== undefined ? { info, fault: faultFromLocalized(err, method) } : { info };
}

function terminal(s: TaskSnapshot, task: MoRef): unknown {
  if (s.info.state === 'success') return s.info.result;
  if (s.fault) throw s.fault;
  throw new TaskFailedError(task, s.info.state, `task ${task.value} ended in state ${s.info.state} without a fault`);
}

const isDone = (s: TaskSnapshot | undefined): s is TaskSnapshot =>
  s?.info.state === 'success' || s?.info.state === 'error';

async function readInfo(c: Caller, task: MoRef, method?: string): Promise<TaskSnapshot> {
  const r = await c.invoke('RetrievePropertiesEx', c.serviceContent.propertyCollector, {
    specSet: [{ propSet: [{ type: 'Task', pathSet: ['info'] }], objectSet: [{ obj: task }] }],
    options: {},
  });
  const obj = first(r.returnval[0], 'objects');
  const prop = list(child(obj, 'propSet')).find((p) => text(first(p, 'name')) === 'info');
  if (!prop)
    throw new ManagedObjectNotFound('ManagedObjectNotFound', `task ${task.value} not found`, { obj: task }, method);
  return taskSnapshot(first(prop, 'val'), method);
}

/** Applies the changes of one WaitForUpdatesEx UpdateSet to the snapshot (whole `info` or `info.x`). */
export function applyTaskUpdate(
  prev: TaskSnapshot | undefined,
  updateSet: XmlNode,
  method?: string,
): TaskSnapshot | undefined {
  let cur = prev;
  for (const fs of list(child(updateSet, 'filterSet'))) {
    for (const ou of list(child(fs, 'objectSet'))) {
      for (const ch of list(child(ou, 'changeSet'))) {
        const name = text(first(ch, 'name'));
        const val = first(ch, 'val');
        if (name === 'info') {
          cur = taskSnapshot(val, method);
        } else if (name.startsWith('info.')) {
          const key = name.slice(5);
          const base: TaskSnapshot = cur ? { ...cur, info: { ...cur.info } } : { info: { state: 'queued' } };
          if (key === 'error') {
            if (val !== undefined) base.fault = faultFromLocalized(val, method);
          } else {
            (base.info as unknown as Record<string, unknown>)[key] = decode(val, 'anyType');
          }
          cur = base;
        }
      }
    }
  }
  return cur;
}

/**
 * Waits until `task` finishes and returns its `info.result` (e.g. the HostSystem MoRef of
 * AddHost_Task, undefined for tasks without a result). Throws the task's fault (a VsphereFault
 * subclass), {@link VsphereTimeoutError} when `timeoutMs` passes, TaskFailedError otherwise.
 */
export async function waitForTask(c: Caller, task: MoRef, opts: WaitForTaskOptions = {}): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const deadline = Date.now() + timeoutMs;
  const method = opts.method;
  if (opts.fastPath !== false) {
    const s = await readInfo(c, task, method);
    opts.onProgress?.(s.info);
    if (isDone(s)) return terminal(s, task);
  }
  try {
    return await c.withSession((sc) => waitWithCollector(sc, task, deadline, timeoutMs, opts));
  } catch (e) {
    // no private collectors here, or ours vanished (e.g. the session was re-established mid-wait)
    const collectorGone =
      e instanceof ManagedObjectNotFound && (e.details.obj as MoRef | undefined)?.value !== task.value;
    if (!(e instanceof NotSupported || collectorGone) || Date.now() >= deadline) throw e;
    return poll(c, task, deadline, timeoutMs, opts);
  }
}

async function waitWithCollector(
  c: Caller,
  task: MoRef,
  deadline: number,
  timeoutMs: number,
  opts: WaitForTaskOptions,
): Promise<unknown> {
  const collector = await CreatePropertyCollector(c);
  try {
    await CreateFilter(
      c,
      collector,
      { propSet: [{ type: 'Task', pathSet: ['info'] }], objectSet: [{ obj: task }] },
      false,
    );
    let version = '';
    let snap: TaskSnapshot | undefined;
    for (let i = 0; i < 100_000; i++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const maxWaitSeconds = Math.max(1, Math.min(opts.maxWaitSeconds ?? 30, Math.floor(left / 1000)));
      let set: XmlNode | undefined;
      try {
        set = await WaitForUpdatesEx(c, collector, version, { maxWaitSeconds }, Math.max(1000, Math.min(30_000, left)));
      } catch (e) {
        if (e instanceof VsphereTimeoutError && Date.now() >= deadline) break;
        throw e;
      }
      if (set === undefined) continue; // maxWaitSeconds passed without a change
      version = text(first(set, 'version'));
      snap = applyTaskUpdate(snap, set, opts.method);
      if (snap) opts.onProgress?.(snap.info);
      if (isDone(snap)) return terminal(snap, task);
    }
    throw new VsphereTimeoutError(opts.method ?? task.value, timeoutMs, 'task');
  } finally {
    await DestroyPropertyCollector(c, collector).catch(() => undefined);
  }
}

async function poll(
  c: Caller,
  task: MoRef,
  deadline: number,
  timeoutMs: number,
  opts: WaitForTaskOptions,
): Promise<unknown> {
  let delay = 500;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    const s = await readInfo(c, task, opts.method);
    opts.onProgress?.(s.info);
    if (isDone(s)) return terminal(s, task);
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 5000);
  }
  throw new VsphereTimeoutError(opts.method ?? task.value, timeoutMs, 'task');
}
