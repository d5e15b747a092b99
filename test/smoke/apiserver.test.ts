// Proves the control plane under test is a real kube-apiserver: optimistic concurrency, MicroTime
// validation, RBAC and the pinned version all behave as in a real cluster.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  createNamespace,
  createServiceAccount,
  kubectl,
  serviceAccountKubeconfig,
  testCluster,
} from '../support/cluster.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';

let namespace: string;

before(async () => {
  namespace = await createNamespace('smoke');
});

function lease(name: string, renewTime: string) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name },
    spec: { holderIdentity: 'someone', leaseDurationSeconds: 15, renewTime, acquireTime: renewTime },
  };
}

test('an update with a stale resourceVersion is refused with 409 Conflict', async () => {
  const created = await rawApi('POST', leasePath(namespace), {
    body: lease('stale', '2026-01-15T10:00:05.123456Z'),
  });
  assert.equal(created.status, 201);
  const first = { ...created.body, spec: { ...created.body.spec, holderIdentity: 'first' } };
  const updated = await rawApi('PUT', leasePath(namespace, 'stale'), { body: first });
  assert.equal(updated.status, 200);
  assert.notEqual(updated.body.metadata.resourceVersion, created.body.metadata.resourceVersion);
  const second = { ...created.body, spec: { ...created.body.spec, holderIdentity: 'second' } };
  const conflict = await rawApi('PUT', leasePath(namespace, 'stale'), { body: second });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.reason, 'Conflict');
});

test('Lease times need six fractional digits: three are rejected, six accepted', async () => {
  const three = await rawApi('POST', leasePath(namespace), {
    body: lease('millis', '2026-01-15T10:00:05.123Z'),
  });
  assert.equal(three.status, 400);
  const six = await rawApi('POST', leasePath(namespace), {
    body: lease('micros', '2026-01-15T10:00:05.123456Z'),
  });
  assert.equal(six.status, 201);
  assert.equal(six.body.spec.renewTime, '2026-01-15T10:00:05.123456Z');
});

test('RBAC is enforced: 403 without a Role, 200 with one', async () => {
  await createServiceAccount(namespace, 'no-rights', []);
  await createServiceAccount(namespace, 'lease-reader', [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get'] },
  ]);
  const token = async (sa: string) =>
    (
      await testCluster().core.createNamespacedServiceAccountToken({
        name: sa,
        namespace,
        body: { spec: { audiences: [] } },
      })
    ).status?.token;
  const denied = await rawApi('GET', leasePath(namespace, 'micros'), { token: await token('no-rights') });
  assert.equal(denied.status, 403);
  const allowed = await rawApi('GET', leasePath(namespace, 'micros'), { token: await token('lease-reader') });
  assert.equal(allowed.status, 200);
  // The same through a kubeconfig holding the ServiceAccount's token, as the sidecar will use it.
  const kubeconfig = await serviceAccountKubeconfig(namespace, 'lease-reader');
  const { stdout } = await kubectl(
    ['-n', namespace, 'get', 'lease', 'micros', '-o', 'jsonpath={.spec.holderIdentity}'],
    kubeconfig,
  );
  assert.equal(stdout, 'someone');
});

test('/version reports the pinned Kubernetes version', async () => {
  const { info } = testCluster();
  const version = await rawApi('GET', '/version');
  assert.equal(version.status, 200);
  assert.equal(version.body.gitVersion, info.binaries.kubernetesVersion);
  const { stdout } = await kubectl(['version', '-o', 'json']);
  assert.equal(JSON.parse(stdout).serverVersion.gitVersion, info.binaries.kubernetesVersion);
});
