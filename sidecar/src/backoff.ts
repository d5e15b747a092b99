/** Jittered exponential backoff: base * 2^(attempt-1), capped, times a random factor in [0.5, 1.5). */
export function backoffMs(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.5 + random()));
}

/**
 * Lets a repeated failure be logged on its first occurrence and then at most once per interval, with a
 * count of what was suppressed, so an API outage does not flood the log.
 */
export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  #lastAt = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(intervalMs: number, now: () => number) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Returns the number of suppressed occurrences to report, or undefined to stay quiet. */
  take(): number | undefined {
    const now = this.#now();
    if (now - this.#lastAt < this.#intervalMs) {
      this.#suppressed++;
      return undefined;
    }
    const suppressed = this.#suppressed;
    this.#lastAt = now;
    this.#suppressed = 0;
    return suppressed;
  }

  reset(): void {
    this.#lastAt = Number.NEGATIVE_INFINITY;
    this.#suppressed = 0;
  }
}

/**
 * The delay before the next Lease call after a failure: the backoff, or the server's Retry-After when it
 * asked for longer — but never more of it than `budgetMs` (for a leader, half the validity it has left, so
 * that a throttled renewal is tried again before its deadline instead of waiting the term away).
 */
export function retryDelayMs(backoff: number, retryAfter: number | undefined, budgetMs: number): number {
  if (retryAfter === undefined) return backoff;
  return Math.max(backoff, Math.min(retryAfter, budgetMs));
}
