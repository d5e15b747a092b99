// The replicas' activity records (controller/example/src/recorder.ts) as the benchmarks read them while
// a run goes on: the first entry that matches, waited for.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** One recorded entry, times as strings of shared monotonic nanoseconds. */
export interface RecordEntry {
  replica: string;
  type: string;
  epoch?: number;
  shard?: number;
  atNs?: string;
  abortSeenAtNs?: string;
  stoppedAtNs?: string;
  /** A write's fence check. */
  checkedAtNs?: string;
}

/** Every entry of every `*.jsonl` in `dir`, file by file (an entry still being written is left out). */
export async function readRecords(dir: string): Promise<RecordEntry[]> {
  const entries: RecordEntry[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.jsonl'))) {
    const text = await readFile(join(dir, file), 'utf8').catch(() => '');
    // Every entry ends with a newline: what follows the last one is an entry still being written.
    for (const line of text.split('\n').slice(0, -1)) {
      if (line.trim()) entries.push(JSON.parse(line) as RecordEntry);
    }
  }
  return entries;
}

/** The first entry in `dir`'s records that `matches`, polled until `timeoutMs` (then an error). */
export async function waitForRecord(
  dir: string,
  what: string,
  matches: (entry: RecordEntry) => boolean,
  timeoutMs: number,
): Promise<RecordEntry> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = (await readRecords(dir)).find(matches);
    if (found) return found;
    if (performance.now() > deadline) throw new Error(`${what}: not recorded within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** A recorded instant as bigint nanoseconds. */
export const atOf = (ns: string | undefined): bigint => BigInt(ns ?? '0');
