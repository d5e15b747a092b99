/**
 * Time as a gate sees it: `now()` is monotonic milliseconds (performance.now by default); every deadline
 * is judged on it. Tests pass a clock they advance by hand, as the sidecar's tests do.
 */
export interface GateClock {
  now(): number;
  /**
   * Calls `callback` once `delayMs` has passed on `now()`; `keepAlive` holds the process open meanwhile.
   * A callback may return a promise of the work it started (a test clock can wait for it).
   */
  setTimeout(callback: () => unknown, delayMs: number, options?: { keepAlive?: boolean }): GateTimer;
}

export interface GateTimer {
  cancel(): void;
}

/**
 * performance.now() and Node's timers, re-armed until the delay has passed on the monotonic clock: Node
 * counts from the event loop's cached time, so a timer can fire a little early.
 */
export const systemClock: GateClock = {
  now: () => performance.now(),
  setTimeout(callback, delayMs, options = {}) {
    const dueAt = performance.now() + Math.max(0, delayMs);
    let handle: NodeJS.Timeout | undefined;
    const arm = (wait: number): void => {
      handle = setTimeout(() => {
        const remaining = dueAt - performance.now();
        if (remaining > 0) arm(remaining);
        else callback();
      }, Math.ceil(wait));
      if (!options.keepAlive) handle.unref();
    };
    arm(Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  },
};
