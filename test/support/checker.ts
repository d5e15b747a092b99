import { readFile } from 'node:fs/promises';

/** What one replica recorded (controller/example/src/recorder.ts), times on the shared monotonic clock. */
interface Entry {
  replica: string;
  type: 'term-start' | 'term-end' | 'killed' | 'write' | 'refused';
  epoch: number;
  atNs?: string;
  checkedAtNs?: string;
  object?: string;
  verb?: string;
}

export interface Interval {
  replica: string;
  epoch: number;
  start: bigint;
  end: bigint;
}

export interface CheckReport {
  intervals: Interval[];
  writes: number;
  transitions: number;
  violations: string[];
}

/**
 * The safety checker: from every replica's record, (1) no two replicas act at the same instant,
 * (2) every write was fenced inside its writer's interval of the same epoch. A replica the test
 * SIGKILLed gets a `killed` entry from the test; `openUntil` closes the intervals still open.
 */
export async function checkRecords(files: string[], openUntil: bigint): Promise<CheckReport> {
  const entries: Entry[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (line.trim()) entries.push(JSON.parse(line) as Entry);
  }
  const violations: string[] = [];
  const intervals: Interval[] = [];
  const open = new Map<string, Interval>();
  const byTime = (e: Entry): bigint => BigInt(e.atNs ?? e.checkedAtNs ?? '0');
  // Per replica, in the order it wrote them (a file is append-only).
  for (const entry of entries) {
    if (entry.type === 'term-start') {
      const previous = open.get(entry.replica);
      if (previous) {
        // The process died while leading (SIGKILL): its term ended no later than this restart.
        previous.end = byTime(entry);
        intervals.push(previous);
      }
      open.set(entry.replica, {
        replica: entry.replica,
        epoch: entry.epoch,
        start: byTime(entry),
        end: openUntil,
      });
    } else if (entry.type === 'term-end' || entry.type === 'killed') {
      const interval = open.get(entry.replica);
      if (!interval) continue;
      const end = byTime(entry);
      // biome-ignore lint/complexity/useMathMinMax: bigint values
      interval.end = end > interval.start ? end : interval.start;
      intervals.push(interval);
      open.delete(entry.replica);
    }
  }
  intervals.push(...open.values());
  intervals.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));

  for (let i = 1; i < intervals.length; i++) {
    const earlier = intervals.slice(0, i).filter((x) => x.replica !== intervals[i]?.replica);
    const current = intervals[i] as Interval;
    for (const other of earlier) {
      if (other.end > current.start) {
        violations.push(
          `overlap: ${other.replica} (epoch ${other.epoch}) acted until ${(Number(other.end - current.start) / 1e6).toFixed(1)} ms ` +
            `after ${current.replica} (epoch ${current.epoch}) started`,
        );
      }
    }
  }

  const writes = entries.filter((e) => e.type === 'write');
  for (const write of writes) {
    const at = BigInt(write.checkedAtNs ?? '0');
    const inside = intervals.some(
      (x) => x.replica === write.replica && x.epoch === write.epoch && x.start <= at && at <= x.end,
    );
    if (!inside)
      violations.push(
        `write outside its interval: ${write.replica} epoch ${write.epoch} ${write.verb} ${write.object}`,
      );
  }
  return { intervals, writes: writes.length, transitions: intervals.length, violations };
}

/** Per object, the epochs stamped on successive versions never decrease. */
export function checkEpochOrder(versions: { object: string; epoch: number }[]): string[] {
  const last = new Map<string, number>();
  const violations: string[] = [];
  for (const { object, epoch } of versions) {
    const previous = last.get(object);
    if (previous !== undefined && epoch < previous)
      violations.push(`${object}: epoch ${epoch} written after ${previous}`);
    last.set(object, epoch);
  }
  return violations;
}
