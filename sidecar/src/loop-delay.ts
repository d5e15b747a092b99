/**
 * Event-loop delay with one timer a second: how late each tick fired, over the last `windowSize` ticks,
 * and how overdue the next one is when asked — so a stall that just ended shows before its tick runs.
 * (monitorEventLoopDelay samples every few milliseconds: dozens of wake-ups a second on an idle sidecar.)
 */
export class LoopDelay {
  readonly #intervalMs: number;
  readonly #windowSize: number;
  readonly #now: () => number;
  readonly #lateness: number[] = [];
  #expectedAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { intervalMs?: number; windowSize?: number; now?: () => number } = {}) {
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#windowSize = options.windowSize ?? 10;
    this.#now = options.now ?? (() => performance.now());
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  /** The worst delay seen in the window, in ms. */
  maxMs(): number {
    const overdue = this.#timer === undefined ? 0 : Math.max(0, this.#now() - this.#expectedAt);
    return Math.max(overdue, ...this.#lateness);
  }

  /** Called by the timer (and by tests): records how late it came. */
  tick(): void {
    this.#lateness.push(Math.max(0, this.#now() - this.#expectedAt));
    if (this.#lateness.length > this.#windowSize) this.#lateness.shift();
    this.#schedule();
  }

  #schedule(): void {
    this.#expectedAt = this.#now() + this.#intervalMs;
    this.#timer = setTimeout(() => this.tick(), this.#intervalMs);
    this.#timer.unref();
  }
}
