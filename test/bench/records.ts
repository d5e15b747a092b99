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
}

/** The first entry of any `*.jsonl` in `dir` that `matches`, polled until `timeoutMs` (then an error). */
export async function waitForRecord(
  dir: string,
  what: string,
  matches: (entry: RecordEntry) => boolean,
  timeoutMs: number,
): Promise<RecordEntry> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.jsonl'))) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => '');
      // Every entry ends with a newline: what follows the last one is an entry still being written.
      for (const line of text.split('\n').slice(0, -1)) {
        if (!line.trim()) continue;
        const entry = JSON.parse(line) as RecordEntry;
        if (matches(entry)) return entry;
      }
    }
    if (performance.now() > deadline) throw new Error(`${what}: not recorded within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** A recorded instant as bigint nanoseconds. */
export const atOf = (ns: string | undefined): bigint => BigInt(ns ?? '0');
