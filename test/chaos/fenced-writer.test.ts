// A deliberately broken client against the chart's fencing policy on the real apiserver: it writes as
// its pod, keeps writing after its term ended and ignores every signal, and one of its writes is held in
// a TCP proxy until another replica has taken the Lease over, then let through. With fencing.enabled the
// apiserver refuses that write and every later one, naming the holder; without it, the same held write
// lands inside the new leader's term (the violation the policy exists for). Then the client-go deletion
// case: a Lease deleted and recreated at once by another pod moves the right to write with it.
import assert from 'node:assert/strict';
import { before, type TestContext, test } from 'node:test';
import {
  createNamespace,
  createServiceAccount,
  podBoundToken,
  serviceAccountKubeconfig,
  sidecarRules,
  testCluster,
} from '../support/cluster.ts';
import { applyFencing } from '../support/fencing.ts';
import { chartDir, helm } from '../support/helm.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { SidecarProcess, testTimings, waitUntil } from '../support/sidecar.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const release = 'held';
const serviceAccount = `${release}-leasehold`;
const lease = `${release}-leasehold`;
const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const fencedResources = [{ apiGroups: [''], resources: ['configmaps'], operations: ['CREATE', 'UPDATE'] }];

before(() => helm(['dependency', 'build', chartDir]));

interface Outcome {
  /** The held write's answer, delivered after the takeover. */
  held: { status: number; message: string };
  /** The broken client's next write, after the takeover. */
  later: { status: number; message: string };
  /** The new leader's own write. */
  newLeader: number;
  namespace: string;
  tokens: Record<string, string>;
  /** The new leader's sidecar. */
  leader: SidecarProcess;
}

/** Two sidecars (pods writer-a, writer-b) and writer-a's broken client, fenced or not. */
async function heldWrite(t: TestContext, fenced: boolean): Promise<Outcome> {
  const namespace = await createNamespace(fenced ? 'held-fenced' : 'held-open');
  await createServiceAccount(namespace, serviceAccount, [
    ...sidecarRules(lease),
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'update'] },
  ]);
  const tokens = {
    a: await podBoundToken(namespace, serviceAccount, 'writer-a'),
    b: await podBoundToken(namespace, serviceAccount, 'writer-b'),
  };
  const { info } = testCluster();
  const proxy = new TcpProxy(Number(new URL(info.server).port));
  await proxy.listen();
  t.after(() => proxy.close());
  const viaProxy = { ...info, server: `https://127.0.0.1:${proxy.port}` };
  let written = 0;
  /** The broken client: writes as its pod whenever asked, whatever its sidecar says. */
  const write = async (who: 'a' | 'b', target = info) => {
    const { status, body } = await rawApi('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
      token: tokens[who],
      target,
      body: { metadata: { name: `${who}-${written++}` }, data: { by: who } },
    });
    return { status, message: body?.message ?? '' };
  };
  if (fenced) {
    // Left in place (its namespace is this test's own): deleting the last policy with a Lease parameter
    // leaves the apiserver without params for the next one for a while (chart/fencing.test.ts then saw
    // every write refused for want of its Lease).
    await applyFencing(info, { release, namespace, resources: fencedResources });
    // No Lease yet, so nobody may write: enforced once a write is refused.
    await waitUntil(
      'the policy enforced',
      async () => ((await write('a')).status === 422 ? true : undefined),
      10_000,
      100,
    );
  }
  const kubeconfig = await serviceAccountKubeconfig(namespace, serviceAccount);
  const start = (podName: string) =>
    SidecarProcess.start({ namespace, leaseName: lease, podName, kubeconfig });
  const a = await start('writer-a');
  t.after(() => a.stop('SIGKILL'));
  await waitUntil(
    'writer-a leading',
    async () => ((await a.tryLeader())?.isLeader ? true : undefined),
    leaseDurationMs,
  );
  const b = await start('writer-b');
  t.after(() => b.stop('SIGKILL'));
  // While writer-a leads its writes land (once the policy has seen it hold the Lease).
  await waitUntil(
    'writer-a admitted',
    async () => ((await write('a', viaProxy)).status === 201 ? true : undefined),
    5_000,
    20,
  );
  // One write stuck on the way: the connection is held, and the client does not care.
  proxy.set('hold');
  const stuck = write('a', viaProxy);
  let answeredWhileHeld = false;
  void stuck.then(() => {
    answeredWhileHeld = true;
  });
  a.signal('SIGKILL');
  await waitUntil(
    'writer-b leading',
    async () => {
      const { body } = await rawApi('GET', leasePath(namespace, lease));
      const bLeads = (await b.tryLeader())?.isLeader === true;
      return bLeads && String(body?.spec?.holderIdentity ?? '').startsWith('writer-b_') ? true : undefined;
    },
    leaseDurationMs * 3,
    20,
  );
  assert.equal(answeredWhileHeld, false, 'the write was held until after the takeover');
  proxy.set('pass'); // the stuck write lands now, inside writer-b's term
  const held = await stuck;
  const later = await write('a', viaProxy);
  const newLeader = (await write('b')).status;
  return { held, later, newLeader, namespace, tokens, leader: b };
}

test('fenced: a write held past the takeover is refused, as is every later one; the new leader writes; the refusal names the holder', async (t) => {
  const outcome = await heldWrite(t, true);
  assert.equal(outcome.held.status, 422, `the held write: ${outcome.held.status} ${outcome.held.message}`);
  assert.match(
    outcome.held.message,
    /pod writer-a does not hold Lease .*\/held-leasehold \(holder: writer-b_/,
  );
  assert.equal(outcome.later.status, 422, 'the broken client keeps being refused');
  assert.equal(outcome.newLeader, 201, 'the new leader is admitted');

  // The client-go deletion case: the Lease is deleted, and another pod's client recreates it at once
  // (client-go does, before the old holder notices): the old holder's writes are refused from then on.
  const { namespace, tokens, leader } = outcome;
  leader.signal('SIGKILL'); // it would recreate the Lease itself: here another pod's client does
  await leader.exited;
  const write = async (who: 'a' | 'b') =>
    (
      await rawApi('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
        token: tokens[who],
        body: { metadata: { generateName: `${who}-` }, data: { by: who } },
      })
    ).status;
  assert.equal((await rawApi('DELETE', leasePath(namespace, lease))).status, 200);
  const recreated = await rawApi('POST', leasePath(namespace), {
    token: tokens.a,
    body: {
      metadata: { name: lease },
      spec: { holderIdentity: 'writer-a_recreated', leaseDurationSeconds: 15 },
    },
  });
  assert.equal(recreated.status, 201);
  await waitUntil(
    'the recreated Lease enforced',
    async () => ((await write('a')) === 201 ? true : undefined),
    5_000,
    10,
  );
  assert.equal(await write('b'), 422, 'the holder before the deletion is refused');
});

test("not fenced: the same held write lands inside the new leader's term (what the policy prevents)", async (t) => {
  const outcome = await heldWrite(t, false);
  assert.equal(outcome.held.status, 201, 'admitted after writer-b took over: two writers in one term');
  assert.equal(outcome.later.status, 201);
  assert.equal(outcome.newLeader, 201);
});
