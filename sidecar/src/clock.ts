/**
 * Time as the elector sees it. `now()` is monotonic milliseconds (performance.now): every expiry and
 * deadline is judged on it. `wallNow()` is only ever used to write timestamps into the Lease.
 */
export interface Clock {
  now(): number;
  wallNow(): number;
  setTimeout(callback: () => void, delayMs: number): Timer;
}

export interface Timer {
  cancel(): void;
}

// setTimeout fires at once for delays above 2^31-1 ms; longer waits are re-armed in steps.
const maxTimerDelayMs = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => performance.now(),
  // Wall time for Lease timestamps only; the monotonic clock supplies the sub-millisecond digits.
  wallNow: () => Date.now() + (performance.now() % 1),
  setTimeout(callback, delayMs) {
    const dueAt = performance.now() + Math.max(0, delayMs);
    let handle: NodeJS.Timeout;
    const arm = (): void => {
      const remaining = dueAt - performance.now();
      handle = setTimeout(
        remaining > maxTimerDelayMs ? arm : callback,
        Math.min(Math.max(0, remaining), maxTimerDelayMs),
      );
      handle.unref();
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  },
};
