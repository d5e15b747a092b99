import type { EventEmitter } from 'node:events';
import { GateError, TermEndedError } from './errors.ts';

/** What every term's work is given. */
export interface TermContext {
  /** Aborted the moment the term ends (its reason a TermEndedError), its deadline passes, or the gate closes. */
  signal: AbortSignal;
  /** The fencing token of this term: stamp it on every write. */
  epoch: number;
  /**
   * The gate clock's instant until which this term may act: it moves on with every renewal, and once
   * the term has ended it is the instant it ended. Uncancellable work starts only if it ends before it.
   */
  deadline(): number;
  /** Milliseconds left until deadline(): 0 once the term has ended. */
  validForMs(): number;
}

/** What runTerms needs from a gate: when a term may start, and when it has ended. */
export interface TermSource {
  /** Emits `change` whenever what `ended` answers may have changed. */
  events: EventEmitter<{ change: [unknown] }>;
  /** Resolves with the epoch of a term that may start now; rejects when the gate closes or `signal` aborts. */
  wait(signal?: AbortSignal): Promise<number>;
  /** Why the term of `epoch` has ended (undefined: it has not); `stopped` when the caller's signal aborted. */
  ended(epoch: number, stopped: boolean): string | undefined;
  /** The clock's now() at which the term ended: the loss, or the deadline if that came first. */
  endedAt(): number;
  /** The deadline of the term of `epoch` while the gate holds it; 0 when it does not. */
  deadlineOf(epoch: number): number;
  now(): number;
  /** The shard whose terms these are, for TermEndedError. */
  shard?: number;
  onError(err: unknown): void;
  /** A term's work starts (before `fn`) and has stopped (after `fn` returned and the term ended). */
  started?(): void;
  stopped?(): void;
}

/**
 * Runs `fn` once per term, aborting its signal the moment the term ends; then waits for the next term.
 * Returns when `outer` aborts or the gate closes. If `fn` returns or throws (reported to onError) early,
 * the next run waits for the next term: one run per term, no hot loop.
 */
export async function runTerms<Context>(
  source: TermSource,
  fn: (context: Context) => Promise<void>,
  contextOf: (term: TermContext) => Context,
  outer?: AbortSignal,
): Promise<void> {
  for (;;) {
    let epoch: number;
    try {
      epoch = await source.wait(outer); // rejects once the gate is closed or `outer` aborted
    } catch {
      return;
    }
    const term = new AbortController();
    let endedAt = 0;
    const end = (): void => {
      const why = source.ended(epoch, outer?.aborted === true);
      if (!why || term.signal.aborted) return;
      endedAt = source.endedAt();
      term.abort(new TermEndedError(endedAt, why, source.shard));
    };
    const deadline = () => (term.signal.aborted ? endedAt : source.deadlineOf(epoch));
    const context: TermContext = {
      signal: term.signal,
      epoch,
      deadline,
      validForMs: () => Math.max(0, Math.floor(deadline() - source.now())),
    };
    source.events.on('change', end);
    outer?.addEventListener('abort', end);
    source.started?.();
    try {
      end(); // the term may have ended between `wait` resolving and now
      if (!term.signal.aborted) await fn(contextOf(context));
    } catch (err) {
      if (!term.signal.aborted) source.onError(err);
    }
    try {
      if (!term.signal.aborted)
        await new Promise((resolve) => term.signal.addEventListener('abort', resolve));
    } finally {
      source.events.off('change', end);
      outer?.removeEventListener('abort', end);
      source.stopped?.();
    }
  }
}

/**
 * Resolves with the epoch `epochNow` gives once it gives one (checked now and on every `change`);
 * rejects when `closed` says so or `signal` aborts. Leaves no listener behind.
 */
export function waitForTerm(
  events: EventEmitter<{ change: [never] }>,
  closed: () => boolean,
  epochNow: () => number | undefined,
  signal?: AbortSignal,
): Promise<{ epoch: number }> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const epoch = epochNow();
      if (closed()) finish(new GateError('LEASEHOLD_GATE_CLOSED'));
      else if (signal?.aborted) finish(new GateError('LEASEHOLD_GATE_ABORTED'));
      else if (epoch !== undefined) finish(undefined, { epoch });
    };
    const finish = (err?: Error, value?: { epoch: number }): void => {
      events.off('change', check);
      signal?.removeEventListener('abort', check);
      if (err) reject(err);
      else resolve(value as { epoch: number });
    };
    events.on('change', check);
    signal?.addEventListener('abort', check);
    check();
  });
}
