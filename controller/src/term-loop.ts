import type { EventEmitter } from 'node:events';
import { LeaderGateError, LeadershipEndedError } from './errors.ts';

/** What runTerms needs from a gate: when a term may start, and when it has ended. */
export interface TermSource {
  /** Emits `change` whenever what `ended` answers may have changed. */
  events: EventEmitter<{ change: [unknown] }>;
  /** Resolves with the epoch of a term that may start now; rejects when the gate closes or `signal` aborts. */
  wait(signal?: AbortSignal): Promise<number>;
  /** Why the term of `epoch` has ended (undefined: it has not); `stopped` when the caller's signal aborted. */
  ended(epoch: number, stopped: boolean): string | undefined;
  /** performance.now() at which the term ended: the loss, or the deadline if that came first. */
  endedAt(): number;
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
  contextOf: (signal: AbortSignal, epoch: number) => Context,
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
    const end = (): void => {
      const why = source.ended(epoch, outer?.aborted === true);
      if (why) term.abort(new LeadershipEndedError(source.endedAt(), why));
    };
    source.events.on('change', end);
    outer?.addEventListener('abort', end);
    source.started?.();
    try {
      end(); // the term may have ended between `wait` resolving and now
      if (!term.signal.aborted) await fn(contextOf(term.signal, epoch));
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
      if (closed()) finish(new LeaderGateError('LEASEHOLD_GATE_CLOSED'));
      else if (signal?.aborted) finish(new LeaderGateError('LEASEHOLD_GATE_ABORTED'));
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
