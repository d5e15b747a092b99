/**
 * Acting windows on the machine-wide monotonic clock (CLOCK_MONOTONIC, as process.hrtime and Go's
 * unix.ClockGettime read it), and the checks over them: no two replicas act at once, how many times
 * leadership moved, how long each move took.
 */
export interface Window {
  replica: string;
  start: bigint;
  end: bigint;
}

/** Appends a window to a replica's list, merging it into the last one when they touch. */
export function addWindow(list: Window[], window: Window): void {
  if (window.end <= window.start) return;
  const last = list.at(-1);
  if (last && last.replica === window.replica && window.start <= last.end) {
    if (window.end > last.end) last.end = window.end;
    return;
  }
  list.push({ ...window });
}

/** Every window of every replica, merged per replica and sorted by start. */
export function mergeWindows(windows: Window[]): Window[] {
  const byReplica = new Map<string, Window[]>();
  for (const w of [...windows].sort((a, b) => compare(a.start, b.start))) {
    const list = byReplica.get(w.replica) ?? [];
    addWindow(list, w);
    byReplica.set(w.replica, list);
  }
  return [...byReplica.values()].flat().sort((a, b) => compare(a.start, b.start));
}

/** Every instant at which two replicas acted at once, described. */
export function overlaps(windows: Window[]): string[] {
  const merged = mergeWindows(windows);
  const found: string[] = [];
  for (let i = 0; i < merged.length; i++) {
    const a = merged[i] as Window;
    for (let j = i + 1; j < merged.length; j++) {
      const b = merged[j] as Window;
      if (b.start >= a.end) break;
      if (b.replica === a.replica) continue;
      // biome-ignore lint/complexity/useMathMinMax: bigint values
      const overlapEnd = a.end < b.end ? a.end : b.end;
      found.push(
        `${a.replica} and ${b.replica} both acted for ${ms(overlapEnd - b.start)} ms (at +${ms(b.start)} ms)`,
      );
    }
  }
  return found;
}

/** How many times the acting replica changed. */
export function transitions(windows: Window[]): number {
  const merged = mergeWindows(windows);
  let count = 0;
  for (let i = 1; i < merged.length; i++) if (merged[i]?.replica !== merged[i - 1]?.replica) count++;
  return count;
}

/** The first window after `at` of a replica other than `except`; undefined when none. */
export function nextActing(windows: Window[], at: bigint, except?: string): Window | undefined {
  return mergeWindows(windows).find((w) => w.start > at && w.replica !== except);
}

/** Who acts at `at`, if anyone. */
export function actingAt(windows: Window[], at: bigint): string | undefined {
  return mergeWindows(windows).find((w) => w.start <= at && at < w.end)?.replica;
}

export const nowNs = (): bigint => process.hrtime.bigint();

export function ms(ns: bigint): number {
  return Math.round(Number(ns) / 1e4) / 100;
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
