// Test doubles for the elector's pure-logic tests: a manual clock and an in-memory Lease store that
// enforces resourceVersion preconditions. Lease behaviour is proven against the real apiserver in test/.
import pino from 'pino';
import type { Clock, Timer } from '../src/clock.ts';
import type { ElectorConfig } from '../src/elector.ts';
import { KubernetesApiError } from '../src/errors.ts';
import type { LeaseApi, WatchEvent } from '../src/kube/lease-api.ts';
import type { RawLease } from '../src/lease/record.ts';

export const silentLogger = pino({ level: 'silent' });

/** The default timings (LD 15 s, RD 10 s, RP 2 s, margin 2 s) on Lease ns/l as me_1. */
export const electorConfig: ElectorConfig = {
  leaseName: 'l',
  namespace: 'ns',
  identity: 'me_1',
  leaseDurationSeconds: 15,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
  safetyMarginSeconds: 2,
};

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

/**
 * An in-memory Lease with the apiserver semantics that matter here: 404, 409 on stale versions. Calls
 * validate their timeouts as the real client does (AbortSignal.timeout throws on a fraction), and with a
 * clock they can take `latencyMs` to answer, or hang until their timeout (`hang`).
 */
export class MemoryLeaseApi implements LeaseApi {
  lease: RawLease | undefined;
  version = 100;
  down = false;
  hang = false;
  latencyMs = 0;
  /** Watch events stop arriving (a watch that died silently). */
  muteWatch = false;
  /** The next N calls fail as if the API were unreachable. */
  failNext = 0;
  /** The next N calls are refused with 429 and this Retry-After (ms), as API Priority and Fairness does. */
  throttleNext = 0;
  retryAfterMs: number | undefined = 1_000;
  /** The next N updates are refused with 409 whatever their resourceVersion (someone wrote meanwhile). */
  conflictNext = 0;
  writes: RawLease[] = [];
  calls: { method: string; timeoutMs: number; at: number }[] = [];

  /** The gaps (ms) between successive calls of `method` made since call number `from`. */
  gaps(from: number, method: string): number[] {
    const times = this.calls
      .slice(from)
      .filter((c) => c.method === method)
      .map((c) => c.at);
    return times.slice(1).map((at, i) => at - (times[i] as number));
  }
  #watchers = new Set<(event: WatchEvent) => void>();
  readonly #clock: ManualClock | undefined;
  /** The Lease name the API serves (a create for another name is refused, as a misconfigured client would be). */
  readonly name: string;

  constructor(clock?: ManualClock, name = 'l') {
    this.#clock = clock;
    this.name = name;
  }

  seed(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): RawLease {
    this.lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: 'ns', resourceVersion: String(++this.version) },
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

  /** Someone else sets annotations on the Lease (a shard set asking for it); undefined removes one. */
  externalAnnotate(annotations: Record<string, string | undefined>): void {
    if (!this.lease) throw new Error('no lease');
    const metadata = this.lease.metadata ?? {};
    const merged: Record<string, string> = { ...(metadata.annotations as Record<string, string>) };
    for (const [key, value] of Object.entries(annotations)) {
      if (value === undefined) delete merged[key];
      else merged[key] = value;
    }
    this.lease = {
      ...this.lease,
      metadata: {
        ...metadata,
        annotations: merged,
        resourceVersion: String(++this.version),
      },
    };
    this.#emit('MODIFIED');
  }

  delete(): void {
    const old = this.lease;
    this.lease = undefined;
    this.emitRaw({ type: 'DELETED', object: structuredClone(old as RawLease) });
  }

  /** Delivers a watch event as given (an old state delivered late, say). */
  emitRaw(event: WatchEvent): void {
    if (this.muteWatch) return;
    for (const w of this.#watchers) w(event);
  }

  async get(timeoutMs: number): Promise<RawLease | undefined> {
    return this.#call('get', timeoutMs, () => (this.lease ? structuredClone(this.lease) : undefined));
  }

  async create(lease: RawLease, timeoutMs: number): Promise<RawLease> {
    return this.#call('create', timeoutMs, () => {
      // What the apiserver checks of a new Lease.
      if (
        lease.apiVersion !== 'coordination.k8s.io/v1' ||
        lease.kind !== 'Lease' ||
        lease.metadata?.name !== this.name
      )
        throw new KubernetesApiError(
          400,
          'BadRequest',
          `not a Lease named ${this.name}: ${JSON.stringify(lease)}`,
        );
      if (this.lease) throw new KubernetesApiError(409, 'AlreadyExists', 'exists');
      this.lease = {
        ...structuredClone(lease),
        metadata: { ...lease.metadata, resourceVersion: String(++this.version) },
      };
      this.writes.push(structuredClone(this.lease));
      this.#emit('ADDED');
      return structuredClone(this.lease);
    });
  }

  async replace(lease: RawLease, timeoutMs: number): Promise<RawLease> {
    return this.#call('replace', timeoutMs, () => {
      if (!this.lease) throw new KubernetesApiError(404, 'NotFound', 'gone');
      if (this.conflictNext > 0) {
        this.conflictNext--;
        throw new KubernetesApiError(409, 'Conflict', 'changed meanwhile');
      }
      if (lease.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion)
        throw new KubernetesApiError(409, 'Conflict', 'stale');
      this.lease = {
        ...structuredClone(lease),
        metadata: { ...lease.metadata, resourceVersion: String(++this.version) },
      };
      this.writes.push(structuredClone(this.lease));
      this.#emit('MODIFIED');
      return structuredClone(this.lease);
    });
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

  /**
   * A call as the real client makes it: a timeout signal (which refuses a fraction), the server doing the
   * work, then the answer after `latencyMs` — or a Timeout when that is later than `timeoutMs` (the work
   * was done, the answer is lost). `hang`: no answer at all before the timeout.
   */
  async #call<T>(method: string, timeoutMs: number, serve: () => T): Promise<T> {
    AbortSignal.timeout(timeoutMs); // RangeError for a fraction, as in kube/connection.ts
    this.calls.push({ method, timeoutMs, at: this.#clock?.nowMs ?? 0 });
    this.#check();
    if (this.failNext > 0) {
      this.failNext--;
      throw new KubernetesApiError(0, 'ECONNRESET', `${method} failed`);
    }
    if (this.throttleNext > 0) {
      this.throttleNext--;
      throw new KubernetesApiError(429, 'TooManyRequests', `${method}: 429`, undefined, this.retryAfterMs);
    }
    const clock = this.#clock;
    if (this.hang && clock) {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, timeoutMs));
      throw new KubernetesApiError(0, 'Timeout', `${method} timed out`);
    }
    const result = serve();
    if (this.latencyMs > 0 && clock) {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(this.latencyMs, timeoutMs)));
      if (this.latencyMs > timeoutMs) throw new KubernetesApiError(0, 'Timeout', `${method} timed out`);
      this.#check();
    }
    return result;
  }

  #emit(type: 'ADDED' | 'MODIFIED'): void {
    this.emitRaw({ type, object: structuredClone(this.lease as RawLease) });
  }
}

/** A promisesKept hook a test holds closed and opens when it chooses; once open it stays open. */
export class PromiseGate {
  #open = false;
  #waiters: (() => void)[] = [];
  calls = 0;

  readonly promisesKept = (): Promise<void> => {
    this.calls++;
    if (this.#open) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  };

  open(): void {
    this.#open = true;
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

/** Awaits `promise` under a manual clock: time moves on (100 ms steps) until it settles. */
export async function settle<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let done = false;
  const settled = promise.finally(() => {
    done = true;
  });
  for (let i = 0; i < 1_000 && !done; i++) await clock.advance(100);
  return settled;
}

/** Stops an elector under a manual clock: time moves on until calls in flight time out. */
export function stopElector(clock: ManualClock, elector: { stop(): Promise<void> }): Promise<void> {
  return settle(clock, elector.stop());
}

/** A logger whose lines a test can read. */
export function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}
