// The shard gate's session, against a sharded sidecar's real HTTP API over scripted shards: one session
// in every shard's ledger, promises for the full validity, and a shard's promises given back when that
// shard's work has stopped, so that its hand-over waits for the app and not for a promise to run out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shardedSidecar, shardGateFor } from './support/scripted-shards.ts';
import { until, untilAborted } from './support/scripted-sidecar.ts';

test("one session in every shard's ledger; work stopped on one shard gives back only that shard's promises", async (t) => {
  const { app, url, shard, ledgerOf, count } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(0).lead(3);
  shard(1).lead(5);
  const gate = shardGateFor(url, t);
  const loops = [0, 1].map((index) => gate.runWhileOwning(index, untilAborted));
  await until(() => count('POST /shards/activity') >= 2 && gate.ownsShard(0) && gate.ownsShard(1));
  for (const index of [0, 1]) {
    assert.equal(ledgerOf(index).has(gate.session), true, `shard ${index}'s ledger knows the session`);
    assert.ok(
      ledgerOf(index).keptAt() > performance.now() + 5_000,
      `shard ${index}: the full validity promised`,
    );
  }
  assert.equal(ledgerOf(0).activeCount, 1, 'the term on shard 0 was reported');
  shard(0).follow(); // shard 0 lost: its term ends, its work stops, the gate reports it idle
  // Nothing promised past now (an ask sent before the stream's hello may have left a short promise that has run out).
  await until(() => ledgerOf(0).keptAt() <= performance.now());
  assert.equal(ledgerOf(0).activeCount, 0);
  assert.equal(ledgerOf(1).activeCount, 1, 'shard 1 still worked on');
  assert.ok(ledgerOf(1).keptAt() > performance.now() + 5_000, "shard 1's promises kept");
  assert.equal(gate.ownsShard(1), true);
  await gate.close();
  await Promise.all(loops);
  assert.ok(ledgerOf(1).keptAt() <= performance.now(), 'close gives back the rest');
});

test("a shard's hand-over waits for the app's work on it, not for the promise to run out", async (t) => {
  const { app, url, shard, ledgerOf } = await shardedSidecar(1);
  t.after(() => app.close());
  shard(0).lead(2); // each answer promises 10 s
  const gate = shardGateFor(url, t);
  let workStoppedAt = 0;
  const loop = gate.runWhileOwning(0, async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    await new Promise((resolve) => setTimeout(resolve, 150)); // work that takes a while to wind down
    workStoppedAt = performance.now();
  });
  await until(() => ledgerOf(0).activeCount === 1);
  // What a graceful hand-over does: demote (pushed), then wait until every promise is kept.
  const demotedAt = performance.now();
  shard(0).follow();
  await ledgerOf(0).allKept();
  const keptAt = performance.now();
  assert.ok(workStoppedAt > 0 && keptAt >= workStoppedAt, 'released only after the work stopped');
  assert.ok(
    keptAt - demotedAt < 5_000,
    `released ${Math.round(keptAt - demotedAt)} ms after the demotion, not after 10 s`,
  );
  await gate.close();
  await loop;
});

test('a sidecar that restarts forgets the session: the next hello opens it again and the running term is reported', async (t) => {
  const { app, url, shard, ledgerOf, dropStreams } = await shardedSidecar(1);
  t.after(() => app.close());
  shard(0).lead(4);
  const gate = shardGateFor(url, t, { onError: () => {} });
  const loop = gate.runWhileOwning(0, untilAborted);
  await until(() => ledgerOf(0).activeCount === 1);
  ledgerOf(0).report(gate.session, false); // as a restarted sidecar knows nothing of the work
  assert.equal(ledgerOf(0).activeCount, 0);
  dropStreams();
  await until(() => ledgerOf(0).activeCount === 1);
  assert.equal(gate.ownsShard(0), true);
  await gate.close();
  await loop;
});

test('close(): a gate that only asked ownsShard gives its promises back; one that never held any reports nothing', async (t) => {
  const { app, url, shard, ledgerOf, count } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(1).lead(3);
  const gate = shardGateFor(url, t);
  await until(() => gate.ownsShard(1));
  assert.ok(ledgerOf(1).keptAt() > performance.now() + 5_000, 'promised to the session');
  const reportsBefore = count('POST /shards/activity');
  await gate.close();
  assert.ok(ledgerOf(1).keptAt() <= performance.now(), 'given back on close');
  assert.equal(gate.ownsShard(1), false);
  assert.deepEqual(
    gate.current().map((s) => s.validForMs),
    [0, 0],
  );
  assert.equal(count('POST /shards/activity') - reportsBefore, 1, 'only the shard that held promises');
});
