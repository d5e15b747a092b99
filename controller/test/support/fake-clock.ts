// A gate clock the test moves by hand: time passes in advance(), and the timers that fall due fire there,
// in order, each at its own instant. As a real monotonic clock, it never stands still: each reading is
// a nanosecond after the one before (a gate orders its requests by send time, and two steps of one
// process are never simultaneous), far too little to move any deadline a test looks at.
import type { GateClock, GateTimer } from '../../src/index.ts';

interface Pending {
  at: number;
  order: number;
  callback: () => unknown;
  cancelled: boolean;
}

export class FakeClock implements GateClock {
  /** Where advance() has moved time to; timers fall due on it alone. */
  #now = 1_000;
  /** What the readings have added since: a nanosecond each. */
  #drift = 0;
  #order = 0;
  #timers: Pending[] = [];

  now(): number {
    this.#drift += 1e-6;
    return this.#now + this.#drift;
  }

  setTimeout(callback: () => unknown, delayMs: number): GateTimer {
    const timer = { at: this.#now + Math.max(0, delayMs), order: this.#order++, callback, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /**
   * Moves time on by `ms`, firing every timer that falls due on the way at its own instant and waiting
   * for the work each one started (a poll: its request, the answer applied, the next poll armed).
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.#timers.splice(this.#timers.indexOf(due), 1);
      this.#now = Math.max(this.#now, due.at);
      await due.callback();
    }
    this.#now = end;
  }

  /** Timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }
}

/**
 * Moves `clock` on in steps of `stepMs`, letting every request the gate sends land (`settled`) after
 * each step, until `done()` holds; fails after `maxMs` of clock time. Resolves with the clock time taken.
 */
export async function advanceUntil(
  clock: FakeClock,
  settled: () => Promise<void>,
  done: () => boolean,
  { stepMs, maxMs }: { stepMs: number; maxMs: number },
): Promise<number> {
  let waited = 0;
  await settled();
  while (!done()) {
    if (waited >= maxMs) throw new Error(`not reached within ${maxMs} ms of clock time`);
    await clock.advance(stepMs);
    waited += stepMs;
    await settled();
  }
  return waited;
}

/** Moves `clock` on by `totalMs` in steps of `stepMs`, letting requests land and checking `each` after every step. */
export async function advanceBy(
  clock: FakeClock,
  settled: () => Promise<void>,
  totalMs: number,
  stepMs: number,
  each: () => void = () => {},
): Promise<void> {
  for (let at = 0; at < totalMs; at += stepMs) {
    await clock.advance(Math.min(stepMs, totalMs - at));
    await settled();
    each();
  }
}
