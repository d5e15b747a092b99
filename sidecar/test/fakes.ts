// Test doubles for the elector's pure-logic tests: a manual clock and an in-memory Lease store that
// enforces resourceVersion preconditions. Lease behaviour is proven against the real apiserver in test/.
import pino from 'pino';
import type { Clock, Timer } from '../src/clock.ts';
import { KubernetesApiError } from '../src/errors.ts';
import type { LeaseApi, WatchEvent } from '../src/lease/api.ts';
import type { RawLease } from '../src/lease/record.ts';

export const silentLogger = pino({ level: 'silent' });

export class ManualClock implements Clock {
  nowMs = 1_000;
  wallMs = Date.UTC(2026, 0, 15, 10, 0, 0, 250);
  #timers: { at: number; callback: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.nowMs;
  }
  wallNow(): number {
    return this.wallMs;
  }
  setTimeout(callback: () => void, delayMs: number): Timer {
    const timer = { at: this.nowMs + Math.max(0, delayMs), callback, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Moves both clocks forward, firing due timers in order and letting promises settle between. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    for (;;) {
      await flush();
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.cancelled = true;
      this.wallMs += due.at - this.nowMs;
      this.nowMs = due.at;
      due.callback();
    }
    this.wallMs += target - this.nowMs;
    this.nowMs = target;
    await flush();
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** An in-memory Lease with apiserver semantics that matter here: 404, 409 on stale versions. */
export class MemoryLeaseApi implements LeaseApi {
  lease: RawLease | undefined;
  version = 100;
  down = false;
  writes: RawLease[] = [];
  #watchers = new Set<(event: WatchEvent) => void>();

  seed(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): RawLease {
    this.lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l', namespace: 'ns', resourceVersion: String(++this.version) },
      spec,
      ...extra,
    };
    this.#emit('MODIFIED');
    return structuredClone(this.lease);
  }

  /** Someone else writes the Lease (an operator, a Go peer). */
  externalWrite(spec: Record<string, unknown>): void {
    if (!this.lease) throw new Error('no lease');
    this.lease = {
      ...this.lease,
      metadata: { ...this.lease.metadata, resourceVersion: String(++this.version) },
      spec: { ...this.lease.spec, ...spec },
    };
    this.#emit('MODIFIED');
  }

  delete(): void {
    const old = this.lease;
    this.lease = undefined;
    for (const w of this.#watchers) w({ type: 'DELETED', object: structuredClone(old as RawLease) });
  }

  async get(): Promise<RawLease | undefined> {
    this.#check();
    return this.lease ? structuredClone(this.lease) : undefined;
  }

  async create(lease: RawLease): Promise<RawLease> {
    this.#check();
    if (this.lease) throw new KubernetesApiError(409, 'AlreadyExists', 'exists');
    this.lease = {
      ...structuredClone(lease),
      metadata: { ...lease.metadata, resourceVersion: String(++this.version) },
    };
    this.writes.push(structuredClone(this.lease));
    this.#emit('ADDED');
    return structuredClone(this.lease);
  }

  async replace(lease: RawLease): Promise<RawLease> {
    this.#check();
    if (!this.lease) throw new KubernetesApiError(404, 'NotFound', 'gone');
    if (lease.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion)
      throw new KubernetesApiError(409, 'Conflict', 'stale');
    this.lease = {
      ...structuredClone(lease),
      metadata: { ...lease.metadata, resourceVersion: String(++this.version) },
    };
    this.writes.push(structuredClone(this.lease));
    this.#emit('MODIFIED');
    return structuredClone(this.lease);
  }

  async watch(
    _rv: string | undefined,
    signal: AbortSignal,
    onEvent: (event: WatchEvent) => void,
  ): Promise<void> {
    this.#check();
    this.#watchers.add(onEvent);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    this.#watchers.delete(onEvent);
  }

  #check(): void {
    if (this.down) throw new KubernetesApiError(0, 'ECONNREFUSED', 'down');
  }

  #emit(type: 'ADDED' | 'MODIFIED'): void {
    const object = structuredClone(this.lease as RawLease);
    for (const w of this.#watchers) w({ type, object });
  }
}
