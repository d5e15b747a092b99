// The safety checker on hand-written records: a kill, freeze or exit the harness appended to an app's file ends
// that app's acting by its instant, wherever it landed in the file; real overlaps are still found.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRecords } from '../support/checker.ts';

async function check(records: Record<string, object[]>) {
  const dir = await mkdtemp(join(tmpdir(), 'leasehold-checker-'));
  const files: string[] = [];
  for (const [replica, entries] of Object.entries(records)) {
    const file = join(dir, `${replica}.jsonl`);
    await writeFile(file, entries.map((e) => `${JSON.stringify({ replica, ...e })}\n`).join(''));
    files.push(file);
  }
  return checkRecords(files);
}

const ns = (n: number): string => String(BigInt(n) * 1_000_000n);
/** Replica b's term on shard 0 from 300 ms on, and a write inside it. */
const taker = [
  { type: 'term-start', epoch: 2, atNs: ns(300), shard: 0 },
  { type: 'write', epoch: 2, checkedAtNs: ns(310), doneAtNs: ns(320), shard: 0, verb: 'update', object: 'x' },
  { type: 'term-end', epoch: 2, atNs: ns(400), stoppedAtNs: ns(410), shard: 0 },
];

test('a freeze appended before the term-start it interrupted (stamped first) still ends that term at the freeze', async () => {
  const report = await check({
    a: [
      { type: 'frozen', atNs: ns(101) },
      { type: 'term-start', epoch: 1, atNs: ns(100), shard: 0 },
      { type: 'term-end', epoch: 1, atNs: ns(150), abortSeenAtNs: ns(500), stoppedAtNs: ns(500), shard: 0 },
    ],
    b: taker,
  });
  assert.deepEqual(report.violations, []);
});

test('a term that began after the freeze is not cut by it: its overlap is found; a write after a freeze is outside', async () => {
  const overlap = await check({
    a: [
      { type: 'frozen', atNs: ns(50) },
      { type: 'term-start', epoch: 1, atNs: ns(100), shard: 0 },
      { type: 'term-end', epoch: 1, atNs: ns(150), stoppedAtNs: ns(500), shard: 0 },
    ],
    b: taker,
  });
  assert.equal(overlap.violations.length, 1);
  assert.match(overlap.violations[0] ?? '', /shard 0: .*both acted/);
  const late = await check({
    a: [
      { type: 'term-start', epoch: 1, atNs: ns(100), shard: 1 },
      { type: 'frozen', atNs: ns(120) },
      {
        type: 'write',
        epoch: 1,
        checkedAtNs: ns(200),
        doneAtNs: ns(210),
        shard: 1,
        verb: 'update',
        object: 'y',
      },
      { type: 'term-end', epoch: 1, atNs: ns(250), stoppedAtNs: ns(260), shard: 1 },
    ],
  });
  assert.deepEqual(late.violations, ['write outside its acting interval: a epoch 1 update y']);
});

test("an app that exited without recording its term's end acted no later than its exit, which the details name", async () => {
  const records = (exit: object[]) => ({
    a: [{ type: 'term-start', epoch: 1, atNs: ns(100), shard: 0 }, ...exit],
    b: taker,
  });
  const exited = await check(records([{ type: 'exited', atNs: ns(200), code: null, signal: 'SIGABRT' }]));
  assert.deepEqual(exited.violations, []);
  assert.deepEqual(exited.details, [
    'a exited (code null, signal SIGABRT) with shard 0 epoch 1 unrecorded as ended',
  ]);
  // Without the exit the term stays open until the records are read, and overlaps b's.
  const open = await check(records([]));
  assert.match(open.violations[0] ?? '', /shard 0: a and b both acted/);
  // An exit after a recorded end is no news.
  const clean = await check(
    records([
      { type: 'term-end', epoch: 1, atNs: ns(150), stoppedAtNs: ns(160), shard: 0 },
      { type: 'exited', atNs: ns(200), code: 0, signal: null },
    ]),
  );
  assert.deepEqual([clean.violations, clean.details], [[], []]);
});
