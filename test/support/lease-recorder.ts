import { testCluster } from './cluster.ts';
import { leasePath } from './raw-api.ts';
import { type ApiTarget, keepWatching } from './watch-stream.ts';

export interface RecordedLease {
  /** Monotonic ms (performance.now of this process) when the event arrived. */
  at: number;
  /** The same instant on the machine-wide monotonic clock (process.hrtime), in nanoseconds. */
  atNs: bigint;
  type: string;
  holderIdentity: string;
  leaseDurationSeconds: number | undefined;
  renewTime: string | undefined;
  acquireTime: string | undefined;
  leaseTransitions: number | undefined;
}

const open = new Set<LeaseRecorder>();

/** Stops every recorder still open (for `after` hooks, so no watch keeps a test process alive). */
export async function stopAllRecorders(): Promise<void> {
  await Promise.all([...open].map((recorder) => recorder.stop()));
}

/** Watches one Lease from the outside (admin) and keeps every state it passes through. */
export class LeaseRecorder {
  readonly events: RecordedLease[] = [];
  readonly #controller = new AbortController();
  readonly #done: Promise<void>;
  #waiters: (() => void)[] = [];

  constructor(namespace: string, name: string, target: ApiTarget = testCluster().info) {
    open.add(this);
    this.#done = this.#run(target, namespace, name);
  }

  #run(target: ApiTarget, namespace: string, name: string): Promise<void> {
    return keepWatching(
      target,
      `${leasePath(namespace)}?fieldSelector=metadata.name%3D${name}`,
      this.#controller.signal,
      (event) => {
        const spec = event.object?.spec ?? {};
        this.events.push({
          at: performance.now(),
          atNs: process.hrtime.bigint(),
          type: event.type,
          holderIdentity: spec.holderIdentity ?? '',
          leaseDurationSeconds: spec.leaseDurationSeconds,
          renewTime: spec.renewTime,
          acquireTime: spec.acquireTime,
          leaseTransitions: spec.leaseTransitions,
        });
        for (const waiter of this.#waiters.splice(0)) waiter();
      },
    );
  }

  last(): RecordedLease | undefined {
    return this.events.at(-1);
  }

  /** Resolves with the first recorded state (at or after index `from`) matching `predicate`. */
  async waitFor(
    predicate: (event: RecordedLease) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<RecordedLease> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(predicate);
      if (found) return found;
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw new Error(
          `no matching Lease state within ${timeoutMs} ms; saw ${JSON.stringify(this.events.slice(-5), (_key, value) => (typeof value === 'bigint' ? String(value) : value))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    open.delete(this);
    this.#controller.abort();
    await this.#done;
  }
}
