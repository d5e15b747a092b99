import { readFile } from 'node:fs/promises';
import { ms, overlaps, type Window } from './acting-windows.ts';

/** What one replica recorded (controller/example/src/recorder.ts), times on the shared monotonic clock. */
interface Entry {
  replica: string;
  type: 'term-start' | 'term-end' | 'killed' | 'frozen' | 'exited' | 'write' | 'refused';
  epoch: number;
  atNs?: string;
  /** term-end: when the app's work had actually stopped (informers down, workers drained). */
  stoppedAtNs?: string;
  /** term-end: when the app's process saw its term's signal abort. */
  abortSeenAtNs?: string;
  checkedAtNs?: string;
  doneAtNs?: string;
  object?: string;
  verb?: string;
  /** Sharded apps: the shard of the term or write (epochs are per shard). */
  shard?: number;
  /** exited: the app process's exit code, or the signal that ended it. */
  code?: number | null;
  signal?: string | null;
}

export interface Interval extends Window {
  epoch: number;
  shard?: number;
  /** From the term-end entry: when the gate ended the term, and when the app saw it. */
  endedAt?: bigint;
  abortSeenAt?: bigint;
}

export interface CheckReport {
  intervals: Interval[];
  writes: number;
  transitions: number;
  violations: string[];
  /** For each overlap, both terms' recorded instants, to tell a late end from a slow drain. */
  details: string[];
}

/**
 * The safety checker, from what the apps did: a replica acts from the start of its term until its work
 * had actually stopped — or until the test killed or froze it, or the process exited (`killed`, `frozen`
 * and `exited` entries written by the test's harness). (1) No two replicas act at the same instant; (2) every write, from its fence check to its
 * completion, happened inside its writer's acting interval of the same epoch. Intervals still open are
 * closed at the instant the files have been read: a term that goes on writing while they are read has
 * written nothing they hold after that instant (taken before the reads, a write that completed in
 * between was judged outside its interval).
 */
export async function checkRecords(files: string[]): Promise<CheckReport> {
  const entries: Entry[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (line.trim()) entries.push(JSON.parse(line) as Entry);
  }
  const openUntil = process.hrtime.bigint();
  const intervals: Interval[] = [];
  // Open terms by replica and shard (a sharded replica holds one term per shard it owns).
  const open = new Map<string, Interval>();
  const keyOf = (replica: string, shard?: number): string => `${replica}#${shard ?? ''}`;
  const close = (key: string, end: bigint, entry?: Entry): void => {
    const interval = open.get(key);
    if (!interval) return;
    interval.end = end > interval.start ? end : interval.start;
    if (entry?.atNs) interval.endedAt = BigInt(entry.atNs);
    if (entry?.abortSeenAtNs) interval.abortSeenAt = BigInt(entry.abortSeenAtNs);
    intervals.push(interval);
    open.delete(key);
  };
  // Per replica, in the order it wrote them (a file is append-only).
  for (const entry of entries) {
    const at = BigInt(entry.atNs ?? '0');
    const key = keyOf(entry.replica, entry.shard);
    if (entry.type === 'term-start') {
      // A process that died leading (SIGKILL) acted no later than its restart.
      close(key, at);
      const { replica, epoch, shard } = entry;
      open.set(key, { replica, epoch, start: at, end: openUntil, ...(shard === undefined ? {} : { shard }) });
    } else if (entry.type === 'term-end') {
      close(key, BigInt(entry.stoppedAtNs ?? entry.atNs ?? '0'), entry);
    } else if (stopsActing(entry)) {
      for (const [openKey, interval] of [...open]) if (interval.replica === entry.replica) close(openKey, at);
    }
  }
  intervals.push(...open.values());
  // The test appends `killed`/`frozen`/`exited` to the app's file from another process, so a term the
  // app began just before the signal can follow it in the file (stamped, then stopped before its write
  // landed): by their instants, a kill, freeze or exit ends every term of that replica it falls inside.
  const stops = entries.filter(stopsActing);
  for (const interval of intervals) {
    for (const stop of stops) {
      const at = BigInt(stop.atNs ?? '0');
      if (stop.replica === interval.replica && interval.start < at && at < interval.end) interval.end = at;
    }
  }
  intervals.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));

  const byShard = Map.groupBy(intervals, (interval) => interval.shard);
  const violations = [...byShard].flatMap(([shard, group]) =>
    overlaps(group).map((v) => (shard === undefined ? v : `shard ${shard}: ${v}`)),
  );
  const writes = entries.filter((e) => e.type === 'write');
  for (const write of writes) {
    const checked = BigInt(write.checkedAtNs ?? '0');
    const done = BigInt(write.doneAtNs ?? write.checkedAtNs ?? '0');
    const inside = intervals.some(
      (x) =>
        x.replica === write.replica &&
        x.epoch === write.epoch &&
        x.shard === write.shard &&
        x.start <= checked &&
        done <= x.end,
    );
    if (!inside)
      violations.push(
        `write outside its acting interval: ${write.replica} epoch ${write.epoch} ${write.verb} ${write.object}`,
      );
  }
  return {
    intervals,
    writes: writes.length,
    transitions: intervals.length,
    violations,
    details: [...describeOverlaps(intervals), ...describeExits(entries, intervals)],
  };
}

/** What the harness saw end a replica's acting: a kill, a freeze, or its process exiting. */
function stopsActing(entry: Entry): boolean {
  return entry.type === 'killed' || entry.type === 'frozen' || entry.type === 'exited';
}

/** Each app exit that ended terms the app had not recorded as ended, with how the process went. */
function describeExits(entries: Entry[], intervals: Interval[]): string[] {
  return entries.flatMap((e) => {
    if (e.type !== 'exited') return [];
    const at = BigInt(e.atNs ?? '0');
    const cut = intervals.filter((x) => x.replica === e.replica && x.end === at);
    if (cut.length === 0) return [];
    const terms = cut.map((x) => `${x.shard === undefined ? '' : `shard ${x.shard} `}epoch ${x.epoch}`);
    return [
      `${e.replica} exited (code ${e.code}, signal ${e.signal}) with ${terms.join(', ')} unrecorded as ended`,
    ];
  });
}

/** Each pair of terms of different replicas that overlap, with their instants relative to the later start. */
function describeOverlaps(intervals: Interval[]): string[] {
  const details: string[] = [];
  for (const a of intervals) {
    for (const b of intervals) {
      if (a.replica === b.replica || a.shard !== b.shard || !(a.start <= b.start && b.start < a.end))
        continue;
      const at = (ns: bigint | undefined): string => (ns === undefined ? '-' : `${ms(ns - b.start)} ms`);
      details.push(
        `${a.replica} epoch ${a.epoch} [start ${at(a.start)}, ended ${at(a.endedAt)}, ` +
          `abort seen ${at(a.abortSeenAt)}, stopped ${at(a.end)}] overlaps ${b.replica} epoch ${b.epoch} ` +
          `[start 0 ms, stopped ${at(b.end)}]`,
      );
    }
  }
  return details;
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
