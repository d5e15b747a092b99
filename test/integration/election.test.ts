// The sidecar's election against the real apiserver: real sidecar processes, each with a ServiceAccount
// token that has only the chart's RBAC. Every test has its own Lease and sidecars, cleaned up by
// t.after() whatever happens; bounds come from support/sidecar.ts timings.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { overlaps } from '../support/acting-windows.ts';
import {
  createNamespace,
  createServiceAccount,
  serviceAccountKubeconfig,
  sidecarRules,
} from '../support/cluster.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import { SessionlessPoller } from '../support/pollers.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { SidecarProcess, testTimings, waitForSingleLeader, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
// How much later the test's own watch may see a write than the sidecars' watches do.
const observationSlackMs = 250;

/** `count` sidecars on a Lease of their own (own namespace, own ServiceAccount), stopped after the test. */
async function group(t: TestContext, leaseName: string, count: number) {
  const namespace = await createNamespace('election');
  await createServiceAccount(namespace, 'sidecar', sidecarRules(leaseName));
  const kubeconfig = await serviceAccountKubeconfig(namespace, 'sidecar');
  const sidecars = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      SidecarProcess.start({ namespace, leaseName, podName: `${leaseName}-${i}`, kubeconfig }),
    ),
  );
  const recorder = new LeaseRecorder(namespace, leaseName);
  t.after(async () => {
    await recorder.stop();
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  });
  return { namespace, sidecars, recorder };
}

test('exactly one of three leads, all agree on name, renewals keep it, times have six digits', async (t) => {
  const { sidecars, recorder } = await group(t, 'three', 3);
  const leader = await waitForSingleLeader(sidecars, leaseDurationMs * 3);
  const answer = await leader.leader();
  assert.equal(answer.holder, answer.identity);
  assert.ok(answer.identity.startsWith(`${leader.podName}_`), 'identity is <pod>_<suffix>');
  assert.ok(
    answer.validForMs > 0 && answer.validForMs <= 500,
    'a session-less answer promises at most 0.5 s',
  );
  const firstEpoch = answer.epoch;
  const seenFrom = recorder.events.length;
  await sleep(leaseDurationMs * 2);
  const renewals = recorder.events.slice(seenFrom);
  const expected = (leaseDurationMs * 2) / (testTimings.retryPeriodSeconds * 1000);
  assert.ok(renewals.length >= expected * 0.5, `expected about ${expected} renewals, saw ${renewals.length}`);
  for (const event of renewals) {
    assert.equal(event.holderIdentity, answer.identity);
    assert.equal(event.leaseTransitions, firstEpoch);
    assert.match(event.renewTime ?? '', microTime);
    assert.match(event.acquireTime ?? '', microTime);
  }
  const again = await Promise.all(sidecars.map((s) => s.leader()));
  assert.deepEqual(
    again.map((a) => a.isLeader),
    sidecars.map((s) => s === leader),
  );
  assert.ok(again.every((a) => a.name === leader.podName));
});

test('SIGKILL of the leader: another leads only after expiry, within a small bound after it', async (t) => {
  const { sidecars, recorder } = await group(t, 'killed', 3);
  const leader = await waitForSingleLeader(sidecars, leaseDurationMs * 3);
  const holder = (await leader.leader()).holder;
  // Kill right after a renewal seen live, so the recorder's clock for it matches the followers'.
  await recorder.waitFor(
    (e) => e.type === 'MODIFIED' && e.holderIdentity === holder,
    leaseDurationMs,
    recorder.events.length,
  );
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
    afterLastRenew <= leaseDurationMs + 1_000,
    `takeover ${afterLastRenew - leaseDurationMs} ms after expiry`,
  );
  assert.ok(
    (takeover.leaseTransitions ?? -1) > (lastRenew.leaseTransitions ?? -1),
    'epoch increases on takeover',
  );
  const next = await waitForSingleLeader(
    sidecars.filter((s) => s !== leader),
    leaseDurationMs,
  );
  assert.equal((await next.leader()).holder, takeover.holderIdentity);
});

test('SIGTERM of the leader: released (holder "", duration 1, epoch kept), another leads within 1 s, exit 0', async (t) => {
  const { sidecars, recorder } = await group(t, 'terminated', 2);
  const leader = await waitForSingleLeader(sidecars, leaseDurationMs * 3);
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
  assert.ok(next.at - sentAt < 1_000, `hand-over took ${Math.round(next.at - sentAt)} ms`);
  assert.equal(await leader.exited, 0);
  const other = sidecars.find((s) => s !== leader) as SidecarProcess;
  await waitUntil(
    'the survivor to report leadership',
    async () => ((await other.leader()).isLeader ? true : undefined),
    1_000,
  );
});

test('a second SIGTERM while the leader keeps a promise does not cut the release short: released, exit 0', async (t) => {
  const { sidecars, recorder } = await group(t, 'twice', 1);
  const leader = await waitForSingleLeader(sidecars, leaseDurationMs * 3);
  // A gate session holding a promise and saying it works: the release waits until the promise runs out.
  const stream = new AbortController();
  t.after(() => stream.abort());
  const watch = await fetch(`${leader.url}/leader/watch?gate=true&session=twice-app`, {
    signal: stream.signal,
  });
  assert.equal(watch.status, 200);
  const promised = (await (await fetch(`${leader.url}/leader?session=twice-app`)).json()) as {
    validForMs: number;
  };
  assert.ok(promised.validForMs > 1_000, `a session's promise: ${promised.validForMs} ms`);
  const activity = await fetch(`${leader.url}/leader/activity`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ session: 'twice-app', active: true }),
  });
  assert.equal(activity.status, 204);
  const from = recorder.events.length;
  leader.signal('SIGTERM');
  await waitUntil(
    'the shutdown under way',
    async () => (leader.output.some((line) => line.includes('shutting down')) ? true : undefined),
    leaseDurationMs,
    10,
  );
  leader.signal('SIGTERM'); // while the promise is still kept
  assert.equal(await leader.exited, 0, 'a clean exit, not the default action of the second signal');
  const released = await recorder.waitFor((e) => e.holderIdentity === '', leaseDurationMs, from);
  assert.equal(released.leaseDurationSeconds, 1);
});

test('Lease deleted under the leader: it writes the Lease again and keeps leading, epoch kept', async (t) => {
  const { namespace, sidecars, recorder } = await group(t, 'deleted', 2);
  const leader = await waitForSingleLeader(sidecars, leaseDurationMs * 3);
  const before = await leader.leader();
  assert.equal((await rawApi('DELETE', leasePath(namespace, 'deleted'))).status, 200);
  const back = await recorder.waitFor((e) => e.type === 'ADDED', leaseDurationMs, recorder.events.length - 1);
  assert.equal(back.holderIdentity, before.identity);
  assert.equal(back.leaseTransitions, before.epoch);
  await sleep(leaseDurationMs);
  const now = await waitForSingleLeader(sidecars, leaseDurationMs);
  assert.equal(now, leader);
});

test('Lease edited to a foreign holder: the leader demotes at once, nobody leads before expiry', async (t) => {
  const { namespace, sidecars } = await group(t, 'stolen', 2);
  const leader = await waitForSingleLeader(sidecars, leaseDurationMs * 3);
  let edit: { status: number; body: any };
  do {
    const current = await rawApi('GET', leasePath(namespace, 'stolen'));
    edit = await rawApi('PUT', leasePath(namespace, 'stolen'), {
      body: {
        ...current.body,
        spec: {
          ...current.body.spec,
          holderIdentity: 'intruder_0000',
          leaseTransitions: current.body.spec.leaseTransitions + 1,
        },
      },
    });
  } while (edit.status === 409); // the leader renewed in between
  assert.equal(edit.status, 200);
  const editedAt = performance.now();
  const editedAtNs = process.hrtime.bigint();
  await waitUntil(
    'the leader to demote',
    async () => ((await leader.leader()).isLeader ? undefined : true),
    500,
    10,
  );
  // Until the foreign hold expires nobody may lead: asked continuously, by the documented clients.
  const pollers = sidecars.flatMap((s) =>
    (['/leader', '/is-leader'] as const).map((path) =>
      new SessionlessPoller(s.podName, s.url, path, 5).start(),
    ),
  );
  t.after(() => Promise.all(pollers.map((p) => p.stop())));
  while (performance.now() - editedAt < leaseDurationMs - observationSlackMs) {
    assert.ok((await Promise.all(sidecars.map((s) => s.leader()))).every((a) => a.name === 'intruder'));
    await sleep(100);
  }
  const holdEndsNs = editedAtNs + BigInt(leaseDurationMs - observationSlackMs) * 1_000_000n;
  const early = pollers.flatMap((p) => p.windows).filter((w) => w.start > editedAtNs && w.start < holdEndsNs);
  assert.deepEqual(early, [], 'no client was told to lead before the foreign hold expired');
  const next = await waitForSingleLeader(sidecars, leaseDurationMs * 2);
  assert.ok(((await next.leader()).epoch ?? -1) > edit.body.spec.leaseTransitions - 1);
});

test('ten sidecars started at once: one leads, and no two are ever told they lead at the same time', async (t) => {
  const { sidecars } = await group(t, 'ten', 10);
  const pollers = sidecars.flatMap((s) =>
    (['/leader', '/is-leader'] as const).map((path) =>
      new SessionlessPoller(s.podName, s.url, path, 10).start(),
    ),
  );
  t.after(() => Promise.all(pollers.map((p) => p.stop())));
  await waitForSingleLeader(sidecars, leaseDurationMs * 4);
  await sleep(leaseDurationMs * 2);
  const windows = pollers.flatMap((p) => p.windows);
  assert.ok(windows.length > 0, 'someone led');
  assert.deepEqual(overlaps(windows), []);
  assert.ok(
    pollers.every((p) => p.answers > 50),
    'every sidecar was asked throughout',
  );
});
