// The sidecar's election against the real apiserver: three (and ten) real sidecar processes, each with
// a ServiceAccount token that has only the chart's RBAC. Bounds come from support/sidecar.ts timings.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createNamespace,
  createServiceAccount,
  serviceAccountKubeconfig,
  sidecarRules,
} from '../support/cluster.ts';
import { LeaseRecorder, stopAllRecorders } from '../support/lease-recorder.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { SidecarProcess, testTimings, waitForSingleLeader, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
// How much later the test's own watch may see a write than the sidecars' watches do.
const observationSlackMs = 250;

let namespace: string;
let kubeconfig: string;
const sidecars: SidecarProcess[] = [];

before(async () => {
  namespace = await createNamespace('election');
  await createServiceAccount(namespace, 'sidecar', [
    ...sidecarRules('lease-a'),
    ...sidecarRules('lease-b'),
    ...sidecarRules('lease-c'),
  ]);
  kubeconfig = await serviceAccountKubeconfig(namespace, 'sidecar');
});

after(async () => {
  await stopAllRecorders();
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
});

async function startGroup(leaseName: string, count: number): Promise<SidecarProcess[]> {
  const group = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      SidecarProcess.start({ namespace, leaseName, podName: `${leaseName}-pod-${i}`, kubeconfig }),
    ),
  );
  sidecars.push(...group);
  return group;
}

test('exactly one of three leads, all agree on name, renewals keep it, times have six digits', async () => {
  const recorder = new LeaseRecorder(namespace, 'lease-a');
  const group = await startGroup('lease-a', 3);
  const leader = await waitForSingleLeader(group, leaseDurationMs * 3);
  const answer = await leader.leader();
  assert.equal(answer.holder, answer.identity);
  assert.ok(answer.identity.startsWith(`${leader.podName}_`), 'identity is <pod>_<suffix>');
  assert.ok(answer.validForMs > 0 && answer.validForMs <= testTimings.renewDeadlineSeconds * 1000);
  const firstEpoch = answer.epoch;

  const seenFrom = recorder.events.length;
  await sleep(leaseDurationMs * 2);
  const renewals = recorder.events.slice(seenFrom);
  assert.ok(renewals.length >= 4, `expected renewals over two lease durations, saw ${renewals.length}`);
  for (const event of renewals) {
    assert.equal(event.holderIdentity, answer.identity);
    assert.equal(event.leaseTransitions, firstEpoch);
    assert.match(event.renewTime ?? '', microTime);
    assert.match(event.acquireTime ?? '', microTime);
  }
  const again = await Promise.all(group.map((s) => s.leader()));
  assert.deepEqual(
    again.map((a) => a.isLeader),
    group.map((s) => s === leader),
  );
  assert.ok(again.every((a) => a.name === leader.podName));
  await recorder.stop();
});

test('SIGKILL of the leader: another leads only after expiry, within a small bound after it', async () => {
  const group = sidecars.filter((s) => s.podName.startsWith('lease-a-'));
  const recorder = new LeaseRecorder(namespace, 'lease-a');
  const leader = await waitForSingleLeader(group, leaseDurationMs * 3);
  const holder = (await leader.leader()).holder;
  // Kill right after a renewal seen live, so the recorder's clock for it matches the followers'.
  await recorder.waitFor((e) => e.type === 'MODIFIED' && e.holderIdentity === holder, leaseDurationMs);
  leader.signal('SIGKILL');
  await leader.exited;
  const lastRenew = recorder.events.filter((e) => e.holderIdentity === holder).at(-1);
  assert.ok(lastRenew);
  const takeover = await recorder.waitFor(
    (e) => e.holderIdentity !== holder && e.holderIdentity !== '',
    leaseDurationMs * 3,
  );
  const afterLastRenew = takeover.at - lastRenew.at;
  assert.ok(
    afterLastRenew >= leaseDurationMs - observationSlackMs,
    `took over ${afterLastRenew} ms after the last renew`,
  );
  assert.ok(
    afterLastRenew <= leaseDurationMs + 1_500,
    `takeover ${afterLastRenew - leaseDurationMs} ms after expiry`,
  );
  assert.ok(
    (takeover.leaseTransitions ?? -1) > (lastRenew.leaseTransitions ?? -1),
    'epoch increases on takeover',
  );
  const survivors = group.filter((s) => s !== leader);
  const next = await waitForSingleLeader(survivors, leaseDurationMs);
  assert.equal((await next.leader()).holder, takeover.holderIdentity);
  await recorder.stop();
});

test('SIGTERM of the leader: released (holder "", duration 1), another leads within 1 s', async () => {
  const group = sidecars.filter(
    (s) => s.podName.startsWith('lease-a-') && s.child.exitCode === null && s.child.signalCode === null,
  );
  assert.equal(group.length, 2);
  const recorder = new LeaseRecorder(namespace, 'lease-a');
  const leader = await waitForSingleLeader(group, leaseDurationMs * 3);
  const before = await leader.leader();
  await recorder.waitFor((e) => e.holderIdentity === before.holder, leaseDurationMs);
  const from = recorder.events.length;
  const sentAt = performance.now();
  leader.signal('SIGTERM');
  const released = await recorder.waitFor((e) => e.holderIdentity === '', leaseDurationMs, from);
  assert.equal(released.leaseDurationSeconds, 1);
  assert.equal(released.leaseTransitions, before.epoch);
  const next = await recorder.waitFor(
    (e) => e.holderIdentity !== '' && e.holderIdentity !== before.holder,
    leaseDurationMs,
    from,
  );
  const handoverMs = next.at - sentAt;
  assert.ok(handoverMs < 1_000, `hand-over took ${Math.round(handoverMs)} ms`);
  assert.equal(await leader.exited, 0);
  const other = group.find((s) => s !== leader) as SidecarProcess;
  await waitUntil(
    'the survivor to report leadership',
    async () => ((await other.leader()).isLeader ? true : undefined),
    1_000,
  );
  await recorder.stop();
});

test('Lease deleted: re-created with an epoch not lower than before', async () => {
  const group = await startGroup('lease-b', 2);
  const leader = await waitForSingleLeader(group, leaseDurationMs * 3);
  // Move the epoch past 0 first: a graceful hand-over increments leaseTransitions.
  await fetch(`${leader.url}/leader/resign?pauseSeconds=1`, { method: 'POST' });
  const second = await waitForSingleLeader(group, leaseDurationMs * 2);
  const epochBefore = (await second.leader()).epoch ?? -1;
  assert.ok(epochBefore >= 1);
  const deleted = await rawApi('DELETE', leasePath(namespace, 'lease-b'));
  assert.equal(deleted.status, 200);
  const recreated = await waitUntil(
    'the Lease to be re-created',
    async () => {
      const got = await rawApi('GET', leasePath(namespace, 'lease-b'));
      return got.status === 200 && got.body.spec.holderIdentity ? got.body : undefined;
    },
    leaseDurationMs * 2,
  );
  assert.ok(
    recreated.spec.leaseTransitions >= epochBefore,
    `epoch ${recreated.spec.leaseTransitions} < ${epochBefore}`,
  );
  const now = await waitForSingleLeader(group, leaseDurationMs * 2);
  assert.equal((await now.leader()).epoch, recreated.spec.leaseTransitions);
});

test('Lease edited to a foreign holder: the leader demotes at once, nobody leads before expiry', async () => {
  const group = sidecars.filter((s) => s.podName.startsWith('lease-b-'));
  const leader = await waitForSingleLeader(group, leaseDurationMs * 3);
  const current = await rawApi('GET', leasePath(namespace, 'lease-b'));
  const foreign = {
    ...current.body,
    spec: {
      ...current.body.spec,
      holderIdentity: 'intruder_0000',
      leaseTransitions: current.body.spec.leaseTransitions + 1,
    },
  };
  let edit = await rawApi('PUT', leasePath(namespace, 'lease-b'), { body: foreign });
  while (edit.status === 409) {
    // The leader renewed in between; edit the fresh object.
    const fresh = await rawApi('GET', leasePath(namespace, 'lease-b'));
    edit = await rawApi('PUT', leasePath(namespace, 'lease-b'), {
      body: {
        ...fresh.body,
        spec: {
          ...fresh.body.spec,
          holderIdentity: 'intruder_0000',
          leaseTransitions: fresh.body.spec.leaseTransitions + 1,
        },
      },
    });
  }
  assert.equal(edit.status, 200);
  const editedAt = performance.now();
  await waitUntil(
    'the leader to demote',
    async () => ((await leader.leader()).isLeader ? undefined : true),
    500,
    10,
  );
  // Until the foreign lease expires, nobody may lead.
  while (performance.now() - editedAt < leaseDurationMs - observationSlackMs) {
    const answers = await Promise.all(group.map((s) => s.leader()));
    assert.ok(
      answers.every((a) => !a.isLeader),
      'someone led while the foreign holder was valid',
    );
    assert.ok(
      answers.every((a) => a.name === 'intruder'),
      'all report the foreign holder',
    );
    await sleep(100);
  }
  const next = await waitForSingleLeader(group, leaseDurationMs * 2);
  assert.ok(((await next.leader()).epoch ?? -1) > edit.body.spec.leaseTransitions - 1);
});

test('ten sidecars started at once: exactly one leads, never two', async () => {
  const group = await startGroup('lease-c', 10);
  await waitForSingleLeader(group, leaseDurationMs * 4);
  const until = performance.now() + leaseDurationMs * 2;
  let samples = 0;
  while (performance.now() < until) {
    const answers = await Promise.all(group.map((s) => s.leader()));
    const leaders = answers.filter((a) => a.isLeader).length;
    assert.ok(leaders <= 1, `${leaders} leaders at once`);
    samples++;
    await sleep(50);
  }
  assert.ok(samples > 10);
  await waitForSingleLeader(group, leaseDurationMs);
  await Promise.all(group.map((s) => s.stop('SIGTERM')));
});
