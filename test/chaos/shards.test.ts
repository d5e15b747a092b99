// The chaos suite with shards: sidecar + example-controller pairs with SHARDS=4 on a control plane of
// their own, taken through SIGKILL, SIGTERM, SIGSTOP, a partition and scale 3 → 1 → 3 → 1. After each
// membership change every shard must be owned again (within LD + 1 s of a crash) and the shares balanced
// within one shard of fair within 2·LD; at the end the checker proves from what the apps recorded that
// no shard had two acting replicas at any instant, every write fell inside its writer's term of that
// shard, per-object epochs never decreased and every source converged.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosEnv } from '../support/chaos-env.ts';
import { checkEpochOrder, checkRecords } from '../support/checker.ts';
import type { Replica } from '../support/replica.ts';
import { assignment as assignmentOf, shardsHeld, waitBalanced } from '../support/shard-assignment.ts';
import { testTimings, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const shardCount = 4;

const mine = shardsHeld;
const assignment = (replicas: Replica[]) => assignmentOf(replicas, shardCount);
const balanced = (replicas: Replica[], boundMs: number, what: string) =>
  waitBalanced(replicas, shardCount, boundMs, what);

/** Checks the records; true when nothing needs a look (else the evidence is kept although it passed). */
async function check(t: TestContext, env: ChaosEnv): Promise<boolean> {
  await env.stopMutator();
  await waitUntil(
    'derived objects to converge',
    async () => ((await env.converged()) ? true : undefined),
    leaseDurationMs * 4,
    200,
  );
  const files = (await readdir(env.recordDir))
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => join(env.recordDir, f));
  const report = await checkRecords(files);
  assert.deepEqual(report.violations, [], [...report.violations, ...report.details].join('\n'));
  assert.deepEqual(checkEpochOrder(env.derivedVersions), []);
  const shardsWorked = new Set(report.intervals.map((i) => i.shard));
  assert.deepEqual([...shardsWorked].sort(), [0, 1, 2, 3], 'every shard had terms');
  assert.ok(report.writes > 0, 'the terms did real work');
  t.diagnostic(`${report.transitions} shard terms, ${report.writes} writes`);
  // An app that exited with terms it never recorded as ended: safe (its exit ended them), but a defect.
  for (const detail of report.details) t.diagnostic(detail);
  return report.details.length === 0;
}

test('shards through SIGKILL, SIGTERM, SIGSTOP, a partition and scale 3 → 1 → 3 → 1: owned again, rebalanced, never acted on twice', async (t) => {
  const env = await ChaosEnv.start({ shards: shardCount });
  env.appEnv = { ...env.appEnv, SYNC_DELAY_MS: '200' };
  let checked = false;
  t.after(() => env.close({ keepEvidence: !checked }));
  await Promise.all(['replica-0', 'replica-1', 'replica-2'].map((name) => env.startReplica(name)));
  env.startMutator();
  const live = (): Replica[] => env.replicas.filter((r) => r.alive);
  const rebalance = 2 * leaseDurationMs;
  const figures: string[] = [];
  let { held } = await balanced(live(), leaseDurationMs * 3, 'start');

  // SIGKILL a replica that holds shards: each of them owned again within LD + 1 s.
  const victim = live().find((r) => (held.get(r.name)?.length ?? 0) > 0) as Replica;
  const killedAt = performance.now();
  await env.kill(victim);
  const others = live().filter((r) => r !== victim);
  await waitUntil("the victim's shards owned again", () => assignment(others), leaseDurationMs + 1_000, 50);
  figures.push(`SIGKILL: owned again after ${Math.round(performance.now() - killedAt)} ms`);
  figures.push(
    `SIGKILL: balanced in ${Math.round((await balanced(others, rebalance, 'after SIGKILL')).ms)} ms`,
  );
  await env.startReplica(victim.name);
  ({ held } = await balanced(live(), rebalance, 'restart'));

  // SIGTERM (a rollout): the shards are handed over, rebalanced.
  const leaving = live().find((r) => (held.get(r.name)?.length ?? 0) > 0) as Replica;
  leaving.signal('SIGTERM');
  await leaving.stop();
  figures.push(
    `SIGTERM: balanced in ${Math.round((await balanced(live(), rebalance, 'after SIGTERM')).ms)} ms`,
  );
  await env.startReplica(leaving.name);
  ({ held } = await balanced(live(), rebalance, 'restart'));

  // SIGSTOP past the lease duration: the others take its shards; thawed, it acts on them no more.
  const frozen = live().find((r) => (held.get(r.name)?.length ?? 0) > 0) as Replica;
  env.freeze(frozen);
  const awake = live().filter((r) => r !== frozen);
  await waitUntil(
    "the frozen replica's shards owned again",
    () => assignment(awake),
    leaseDurationMs + 1_000,
    50,
  );
  frozen.signal('SIGCONT');
  ({ held } = await balanced(live(), rebalance, 'after SIGCONT'));

  // A partition: the replica cut off from the apiserver loses its shards to the others.
  const cut = live().find((r) => (held.get(r.name)?.length ?? 0) > 0) as Replica;
  env.proxies.get(cut.name)?.set('blackhole');
  const reachable = live().filter((r) => r !== cut);
  await waitUntil(
    "the cut-off replica's shards owned again",
    () => assignment(reachable),
    leaseDurationMs * 2,
    50,
  );
  assert.deepEqual(await mine(cut), [], 'the cut-off replica holds nothing');
  env.proxies.get(cut.name)?.set('pass');
  await balanced(live(), rebalance, 'partition healed');

  // Scale 3 → 1 → 3.
  const [stay, ...go] = live() as [Replica, ...Replica[]];
  await Promise.all(go.map((r) => r.stop('SIGTERM')));
  figures.push(
    `scale 3→1: balanced in ${Math.round((await balanced([stay], rebalance, 'scale 3→1')).ms)} ms`,
  );
  await Promise.all(go.map((r) => env.startReplica(r.name)));
  figures.push(
    `scale 1→3: balanced in ${Math.round((await balanced(live(), rebalance, 'scale 1→3')).ms)} ms`,
  );
  await sleep(500); // the newcomers' terms write
  const [last, ...extra] = live() as [Replica, ...Replica[]];
  await Promise.all(extra.map((r) => r.stop('SIGTERM')));
  figures.push(
    `scale 3→1 again: balanced in ${Math.round((await balanced([last], rebalance, 'scale 3→1 again')).ms)} ms`,
  );
  checked = await check(t, env);
  t.diagnostic(figures.join('; '));
});
