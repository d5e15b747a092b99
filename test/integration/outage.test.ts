// The apiserver goes away: the leader must stop claiming leadership before its own deadline, nobody
// else may claim it, and after a restart exactly one leads. Uses a private control plane so that
// stopping it disturbs no other test.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { ControlPlane } from '../cluster/control-plane.ts';
import { renderKubeconfig } from '../cluster/kubeconfig.ts';
import { setUpAndTearDown } from '../support/file-hooks.ts';
import { SidecarProcess, testTimings, waitForSingleLeader, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const validityMs =
  Math.min(
    testTimings.renewDeadlineSeconds,
    testTimings.leaseDurationSeconds - testTimings.safetyMarginSeconds,
  ) * 1000;
const pollSlackMs = 150;

let controlPlane: ControlPlane;
let sidecars: SidecarProcess[] = [];

async function setUp() {
  controlPlane = await ControlPlane.start();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.info.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: 'outage' } } });
  await core.createNamespacedServiceAccount({ namespace: 'outage', body: { metadata: { name: 'sidecar' } } });
  await rbac.createNamespacedRole({
    namespace: 'outage',
    body: {
      metadata: { name: 'sidecar' },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: ['outage'],
          verbs: ['get', 'watch', 'update', 'patch'],
        },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: 'outage',
    body: {
      metadata: { name: 'sidecar' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sidecar' },
      subjects: [{ kind: 'ServiceAccount', name: 'sidecar', namespace: 'outage' }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name: 'sidecar',
    namespace: 'outage',
    body: { spec: { audiences: [] } },
  });
  const kubeconfig = join(controlPlane.info.dir, 'sidecar.kubeconfig');
  const { server, caPem } = controlPlane.info;
  await writeFile(
    kubeconfig,
    renderKubeconfig({
      server,
      caPem,
      token: token.status?.token ?? '',
      user: 'sidecar',
      namespace: 'outage',
    }),
  );
  sidecars = await Promise.all(
    [0, 1, 2].map((i) =>
      SidecarProcess.start({ namespace: 'outage', leaseName: 'outage', podName: `outage-${i}`, kubeconfig }),
    ),
  );
}

async function tearDown() {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await controlPlane?.stop();
}

setUpAndTearDown(setUp, tearDown);

test('apiserver stopped: the leader stops claiming before its deadline, nobody claims; restarted: exactly one', async () => {
  const leader = await waitForSingleLeader(sidecars, leaseDurationMs * 3);
  await controlPlane.stopApiserver();
  // Every renew that succeeded was sent before the apiserver exited, so validity ends by now + validity.
  const stoppedAt = performance.now();
  const demotedAt = await waitUntil(
    'the leader to stop claiming leadership',
    async () => ((await leader.leader()).isLeader ? undefined : performance.now()),
    validityMs + 2_000,
    10,
  );
  assert.ok(
    demotedAt - stoppedAt <= validityMs + pollSlackMs,
    `demoted ${Math.round(demotedAt - stoppedAt)} ms after the outage began`,
  );
  // Through two lease durations of outage, nobody may claim leadership.
  const until = performance.now() + leaseDurationMs * 2;
  while (performance.now() < until) {
    const answers = await Promise.all(sidecars.map((s) => s.leader()));
    assert.ok(
      answers.every((a) => !a.isLeader),
      'a replica claimed leadership without the API',
    );
    await sleep(100);
  }
  await controlPlane.restartApiserver();
  await waitForSingleLeader(sidecars, leaseDurationMs * 4);
  const samples = performance.now() + leaseDurationMs;
  while (performance.now() < samples) {
    const answers = await Promise.all(sidecars.map((s) => s.leader()));
    assert.ok(answers.filter((a) => a.isLeader).length <= 1);
    await sleep(100);
  }
});
