// A deadline that has passed while its timer has not run yet (a busy or starved event loop runs I/O
// callbacks first): the loss that arrives then cancels that timer, and must still end the term. Found in
// the shard chaos suite, where a pushed loss landed just after the deadline and the term ran on for
// 1.5 s. The clock here never fires a timer, so only the answers can end the term; the loss is the one a
// sidecar cut off from the apiserver pushes (same holder, same epoch, no longer leader).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GateClock } from '../src/index.ts';
import { shardedSidecar, shardGateFor } from './support/scripted-shards.ts';
import { gateFor, sidecar, until } from './support/scripted-sidecar.ts';

/** Real time, and timers that never run: every deadline is "late". */
const lateTimers: GateClock = {
  now: () => performance.now(),
  setTimeout: () => ({ cancel: () => {} }),
};

test('leader gate: a loss pushed after the deadline, its timer not run, ends the term', async (t) => {
  const { source, app, url } = await sidecar();
  t.after(() => app.close());
  source.lead(3, 200);
  const gate = gateFor(url, t, { clock: lateTimers });
  let aborted = false;
  const loop = gate.runWhileLeader(async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    aborted = true;
  });
  await until(() => gate.isLeader());
  await until(() => !gate.isLeader()); // the deadline has passed; no timer said so
  assert.equal(aborted, false, 'nothing announced the deadline yet');
  // As a sidecar cut off from the apiserver demotes itself: the Lease it last saw is still its own.
  source.set({ isLeader: false, validForMs: 0, role: 'follower' });
  await until(() => aborted, 2_000);
  await gate.close();
  await loop;
});

test('shard gate: a loss pushed after the deadline, its timer not run, ends that shard term', async (t) => {
  const { app, url, shard } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(1).lead(5, 200);
  const gate = shardGateFor(url, t, { clock: lateTimers });
  let aborted = false;
  const loop = gate.runWhileOwning(1, async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    aborted = true;
  });
  await until(() => gate.ownsShard(1));
  await until(() => !gate.ownsShard(1));
  assert.equal(aborted, false, 'nothing announced the deadline yet');
  shard(1).set({ isLeader: false, validForMs: 0, role: 'follower' });
  await until(() => aborted, 2_000);
  await gate.close();
  await loop;
});
