// The sidecar's Kubernetes-visible side against the real apiserver: Events on the Lease, the optional
// pod role label, and the optional tie between leadership and the app's health.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import {
  createNamespace,
  createServiceAccount,
  serviceAccountKubeconfig,
  sidecarRules,
  testCluster,
} from '../support/cluster.ts';
import { SidecarProcess, testTimings, waitForSingleLeader, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
let namespace: string;
let kubeconfig: string;
const sidecars: SidecarProcess[] = [];

before(async () => {
  namespace = await createNamespace('kube');
  await createServiceAccount(namespace, 'sidecar', [
    ...sidecarRules('labelled'),
    ...sidecarRules('health'),
    { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
  ]);
  kubeconfig = await serviceAccountKubeconfig(namespace, 'sidecar');
});

after(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
});

test('Events on acquire and release; pod labels leasehold.io/role follow leadership', async () => {
  const { core } = testCluster();
  for (const name of ['labelled-0', 'labelled-1']) {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    });
  }
  const group = await Promise.all(
    ['labelled-0', 'labelled-1'].map((podName) =>
      SidecarProcess.start({
        namespace,
        leaseName: 'labelled',
        podName,
        kubeconfig,
        env: { POD_ROLE_LABEL: 'true' },
      }),
    ),
  );
  sidecars.push(...group);
  const leader = await waitForSingleLeader(group, leaseDurationMs * 3);
  const follower = group.find((s) => s !== leader) as SidecarProcess;
  const role = async (pod: string) =>
    (await core.readNamespacedPod({ name: pod, namespace })).metadata?.labels?.['leasehold.io/role'];
  await waitUntil(
    'pod labels to show the roles',
    async () =>
      (await role(leader.podName)) === 'leader' && (await role(follower.podName)) === 'follower'
        ? true
        : undefined,
    5_000,
  );

  await leader.stop('SIGTERM');
  await waitUntil(
    'the survivor to be labelled leader',
    async () => ((await role(follower.podName)) === 'leader' ? true : undefined),
    5_000,
  );
  const events = await core.listNamespacedEvent({
    namespace,
    fieldSelector: 'involvedObject.kind=Lease,involvedObject.name=labelled',
  });
  const messages = events.items.filter((e) => e.reason === 'LeaderElection').map((e) => e.message ?? '');
  assert.ok(
    messages.some((m) => m.startsWith(`${leader.podName}_`) && m.includes('became leader')),
    messages.join('\n'),
  );
  assert.ok(messages.some((m) => m.startsWith(`${leader.podName}_`) && m.includes('released the lease')));
  assert.ok(messages.some((m) => m.startsWith(`${follower.podName}_`) && m.includes('became leader')));
});

test('app health tie: a leader whose app fails its health URL resigns, another takes over', async () => {
  let healthy = true;
  const server = createServer((_req, res) => {
    res.statusCode = healthy ? 200 : 500;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/healthz`;
  try {
    const group = await Promise.all(
      ['health-0', 'health-1'].map((podName, i) =>
        SidecarProcess.start({
          namespace,
          leaseName: 'health',
          podName,
          kubeconfig,
          // Only the first replica's app is watched (and will fail); the other's app has no URL.
          env: i === 0 ? { APP_HEALTH_URL: url, APP_UNHEALTHY_SECONDS: '1', RESIGN_PAUSE_SECONDS: '5' } : {},
        }),
      ),
    );
    sidecars.push(...group);
    const [watched, other] = group as [SidecarProcess, SidecarProcess];
    // Make the watched replica the leader: the other resigns until it is.
    await waitUntil(
      'the watched replica to lead',
      async () => {
        if ((await watched.leader()).isLeader) return true;
        if ((await other.leader()).isLeader)
          await fetch(`${other.url}/leader/resign?pauseSeconds=2`, { method: 'POST' });
        return undefined;
      },
      leaseDurationMs * 4,
      200,
    );
    healthy = false;
    const failedAt = performance.now();
    await waitUntil(
      'the unhealthy leader to resign',
      async () => ((await watched.leader()).isLeader ? undefined : true),
      5_000,
    );
    assert.ok(performance.now() - failedAt >= 1_000, 'resigned before APP_UNHEALTHY_SECONDS');
    await waitUntil(
      'the other replica to lead',
      async () => ((await other.leader()).isLeader ? true : undefined),
      3_000,
    );
  } finally {
    server.close();
  }
});
