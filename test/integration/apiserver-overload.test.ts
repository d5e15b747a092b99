// A busy apiserver must not unseat a healthy leader. Another identity floods the priority level for
// ordinary traffic into rejections (support/apiserver-overload.ts says how, and why the level is made
// small); two sidecars of one release run on it. Without the chart's FlowSchema their Lease requests share
// that level and are refused with 429; with it they go to `leader-election`: every renewal succeeds and
// the holder never changes, while the flooder is still being refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OverloadedCluster, type OverloadRound } from '../support/apiserver-overload.ts';
import { testTimings } from '../support/sidecar.ts';

const floodSeconds = 8;
let cluster: OverloadedCluster;
let without: OverloadRound;

before(async () => {
  cluster = await OverloadedCluster.start({
    LEASE_DURATION_SECONDS: String(testTimings.leaseDurationSeconds),
    LEASE_RENEW_DEADLINE_SECONDS: String(testTimings.renewDeadlineSeconds),
    LEASE_RETRY_PERIOD_SECONDS: String(testTimings.retryPeriodSeconds),
    LEASE_SAFETY_MARGIN_SECONDS: String(testTimings.safetyMarginSeconds),
  });
});
after(async () => {
  await cluster?.stop();
});

test('without the FlowSchema, the flood throttles the Lease requests (429, counted and logged as throttling)', async () => {
  without = await cluster.round(floodSeconds);
  console.log(`[overload] without the FlowSchema: ${JSON.stringify(without)}`);
  assert.ok(without.flood.rejected > 0, 'the ordinary priority level was overloaded');
  assert.ok(without.throttled > 0, 'the sidecars were throttled');
  const logged = cluster.sidecars
    .flatMap((s) => s.logLines())
    .filter((l) => String(l.msg).includes('throttled'));
  assert.ok(logged.length > 0, 'and said so in the log');
  assert.ok(
    logged.every((l) => l.level === 40 && typeof l.delayMs === 'number'),
    JSON.stringify(logged[0]),
  );
});

test("with the chart's FlowSchema, under the same flood: no 429, every renewal succeeds, the leader never changes", async () => {
  await cluster.applyFlowSchema();
  const round = await cluster.round(floodSeconds);
  console.log(`[overload] with the FlowSchema: ${JSON.stringify(round)}`);
  assert.ok(round.flood.rejected > 0, 'the ordinary priority level was still overloaded');
  assert.equal(round.throttled, 0);
  assert.equal(round.renewalsFailed, 0);
  assert.equal(round.holderChanges, 0);
  assert.equal(round.leaderAnswersLost, 0, 'the leader said isLeader throughout');
  // At least one renewal per wall second is the sidecar's pace at RP 0.5 s; half of that is "kept renewing".
  assert.ok(round.renewalsSucceeded >= floodSeconds / 2, `${round.renewalsSucceeded} renewals`);
});
