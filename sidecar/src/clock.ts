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

/**
 * A timer that never fires before `delayMs` has passed on the monotonic clock. Node's timers count
 * from the event loop's cached time, which lags when the loop was busy, so they can fire a little
 * early; a deadline callback that ran early would find nothing to do and never run again.
 */
export function monotonicTimeout(callback: () => void, delayMs: number): Timer {
  const dueAt = performance.now() + Math.max(0, delayMs);
  let handle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const remaining = dueAt - performance.now();
    if (remaining <= 0) {
      callback();
      return;
    }
    handle = setTimeout(arm, Math.min(Math.ceil(remaining), maxTimerDelayMs));
    handle.unref();
  };
  handle = setTimeout(arm, Math.min(Math.ceil(Math.max(0, delayMs)), maxTimerDelayMs));
  handle.unref();
  return { cancel: () => clearTimeout(handle) };
}

export const systemClock: Clock = {
  now: () => performance.now(),
  // Wall time for Lease timestamps only; the monotonic clock supplies the sub-millisecond digits.
  wallNow: () => Date.now() + (performance.now() % 1),
  setTimeout: monotonicTimeout,
};
