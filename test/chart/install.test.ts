// The chart against the real apiserver: server-side validation under the restricted Pod Security
// profile with zero warnings, a real `helm install`, and a real sidecar running on the chart's
// ServiceAccount token, which may use its own Lease and nothing else.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { canI, createNamespace, kubectl, serviceAccountKubeconfig, testCluster } from '../support/cluster.ts';
import { chartDir, helm, thirdPartyChartDir } from '../support/helm.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { SidecarProcess, waitUntil } from '../support/sidecar.ts';

let namespace: string;
const restricted = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/warn': 'restricted',
};
const sidecars: SidecarProcess[] = [];

before(async () => {
  namespace = await createNamespace('chart', restricted);
  await helm(['dependency', 'build', chartDir]);
  await helm(['dependency', 'build', thirdPartyChartDir]);
});

after(async () => {
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
});

/** Renders a chart and validates it server-side; returns kubectl's stderr (warnings land there). */
async function dryRun(
  chart: string,
  release: string,
  sets: string[] = [],
): Promise<{ stdout: string; stderr: string }> {
  const { stdout: manifest } = await helm([
    'template',
    release,
    chart,
    '--namespace',
    namespace,
    '--kube-version',
    '1.36.3',
    ...sets,
  ]);
  const file = join(testCluster().info.dir, `${release}-${namespace}.yaml`);
  await writeFile(file, manifest);
  return kubectl(['apply', '-n', namespace, '--dry-run=server', '--validate=strict', '-f', file]);
}

test('server-side dry-run under restricted Pod Security: accepted with zero warnings', async () => {
  for (const sets of [
    [],
    ['--set', 'sidecar.nativeSidecar=false'],
    ['--set', 'metrics.service.enabled=true', '--set', 'sidecar.podRoleLabel=true'],
  ]) {
    const { stdout, stderr } = await dryRun(chartDir, 'dry', sets);
    assert.match(stdout, /deployment.apps\/dry-leasehold created \(server dry run\)/);
    assert.equal(stderr.trim(), '', `warnings with ${sets.join(' ')}: ${stderr}`);
  }
});

test('plain manifests: every object names the release namespace; applied to another namespace, kubectl refuses', async () => {
  const { stdout: manifest } = await helm(['template', 'plain', chartDir, '--namespace', namespace]);
  const objects = manifest.split(/^---$/m).filter((doc) => /^kind:/m.test(doc));
  assert.ok(objects.length >= 5);
  for (const doc of objects) {
    // The FlowSchema is cluster-scoped: it names the namespace in its subject and its rule instead.
    const where = /^kind: FlowSchema$/m.test(doc)
      ? `^ {12}namespace: ${namespace}$`
      : `^  namespace: ${namespace}$`;
    assert.match(doc, new RegExp(where, 'm'), `${/^kind: (.*)$/m.exec(doc)?.[1]} names it`);
  }
  const file = join(testCluster().info.dir, `plain-${namespace}.yaml`);
  await writeFile(file, manifest);
  const mismatch = await kubectl(['apply', '-n', 'default', '--dry-run=server', '-f', file]).then(
    () => assert.fail('applied into a namespace the RoleBinding does not name'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(
    mismatch,
    new RegExp(`namespace from the provided object "${namespace}" does not match the namespace "default"`),
  );
  const { stdout } = await kubectl(['apply', '--dry-run=server', '-f', file]);
  assert.match(stdout, /rolebinding.rbac.authorization.k8s.io\/plain-leasehold created \(server dry run\)/);
});

test('the reusable template in a third-party chart validates the same way', async () => {
  const { stdout, stderr } = await dryRun(thirdPartyChartDir, 'acme');
  assert.match(stdout, /deployment.apps\/acme-operator created \(server dry run\)/);
  assert.match(stdout, /role.rbac.authorization.k8s.io\/acme-operator-leader-election created/);
  assert.equal(stderr.trim(), '');
  const { stdout: manifest } = await helm(['template', 'acme', thirdPartyChartDir]);
  assert.match(manifest, /restartPolicy: Always/);
  assert.match(manifest, /value: "acme-operator-leader"/);
});

test('helm install, then the chart ServiceAccount drives a real sidecar: acquire, renew, release', async () => {
  const env = { KUBECONFIG: testCluster().info.kubeconfigPath };
  const { stdout } = await helm(['install', 'ctl', chartDir, '--namespace', namespace], env);
  assert.match(stdout, /STATUS: deployed/);
  assert.match(stdout, /get lease ctl-leasehold/);
  const { stdout: objects } = await kubectl([
    '-n',
    namespace,
    'get',
    'deployment,serviceaccount,role,rolebinding,pdb',
    '-o',
    'name',
  ]);
  for (const name of [
    'deployment.apps/ctl-leasehold',
    'serviceaccount/ctl-leasehold',
    'role.rbac.authorization.k8s.io/ctl-leasehold',
    'poddisruptionbudget.policy/ctl-leasehold',
  ]) {
    assert.match(objects, new RegExp(name.replace('.', '\\.')));
  }

  const kubeconfig = await serviceAccountKubeconfig(namespace, 'ctl-leasehold');
  const sidecar = await SidecarProcess.start({
    namespace,
    leaseName: 'ctl-leasehold',
    podName: 'ctl-pod-0',
    kubeconfig,
  });
  sidecars.push(sidecar);
  await waitUntil(
    'the sidecar to lead',
    async () => ((await sidecar.leader()).isLeader ? true : undefined),
    10_000,
  );
  const first = await rawApi('GET', leasePath(namespace, 'ctl-leasehold'));
  await sleep(2_500);
  const later = await rawApi('GET', leasePath(namespace, 'ctl-leasehold'));
  assert.equal(later.body.spec.holderIdentity, first.body.spec.holderIdentity);
  assert.notEqual(later.body.spec.renewTime, first.body.spec.renewTime, 'renewed');
  assert.equal(await sidecar.stop('SIGTERM'), 0);
  const released = await rawApi('GET', leasePath(namespace, 'ctl-leasehold'));
  assert.equal(released.body.spec.holderIdentity, '');
  assert.equal(released.body.spec.leaseDurationSeconds, 1);
  assert.ok(sidecar.logLines().some((l) => l.msg === 'lease released'));
});

test('the chart ServiceAccount: its own Lease by name, Lease create, Events, and the controller rules the values grant — nothing more', async () => {
  const can = (verb: string, resource: string, inNamespace = namespace) =>
    canI({ namespace, name: 'ctl-leasehold' }, verb, resource, inNamespace);
  assert.equal(await can('update', 'leases/ctl-leasehold'), 'yes');
  assert.equal(await can('watch', 'leases/ctl-leasehold'), 'yes');
  assert.equal(await can('create', 'leases'), 'yes');
  assert.equal(await can('update', 'leases/someone-elses'), 'no');
  assert.equal(await can('get', 'leases/someone-elses'), 'no');
  assert.equal(await can('delete', 'leases/ctl-leasehold'), 'no');
  assert.equal(await can('list', 'leases'), 'no');
  assert.equal(await can('get', 'secrets'), 'no');
  assert.equal(await can('patch', 'pods'), 'no');
  assert.equal(await can('create', 'events'), 'yes');
  assert.equal(await can('get', 'leases/ctl-leasehold', 'default'), 'no');
  // controller.rules (the example controller's default): ConfigMaps in this namespace, and only those.
  assert.equal(await can('list', 'configmaps'), 'yes');
  assert.equal(await can('delete', 'configmaps'), 'yes');
  assert.equal(await can('patch', 'configmaps'), 'no');
  assert.equal(await can('list', 'configmaps', 'default'), 'no');
  assert.equal(await can('create', 'deployments.apps'), 'no');
  assert.equal(await can('list', 'serviceaccounts'), 'no');
});

test('helm upgrade that would move running replicas to another Lease is refused; scaled to 0 and allowed, it goes through', async () => {
  const env = { KUBECONFIG: testCluster().info.kubeconfigPath };
  const release = ['rename', chartDir, '--namespace', namespace];
  await helm(['install', ...release, '--set', 'leaseName=first-lease'], env);
  const refused = await helm(['upgrade', ...release, '--set', 'leaseName=second-lease'], env).then(
    () => assert.fail('the upgrade was accepted'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(refused, /moves the Lease from "first-lease" to "second-lease"/);
  assert.match(refused, /scale deployment rename-leasehold --replicas=0/);
  assert.match(refused, /allowLeaseNameChange=true/);
  // The same Lease name, or another value changed, upgrades as usual.
  await helm(['upgrade', ...release, '--set', 'leaseName=first-lease', '--set', 'replicaCount=3'], env);
  await kubectl(['-n', namespace, 'scale', 'deployment', 'rename-leasehold', '--replicas=0']);
  const { stdout } = await helm(
    ['upgrade', ...release, '--set', 'leaseName=second-lease', '--set', 'allowLeaseNameChange=true'],
    env,
  );
  assert.match(stdout, /has been upgraded/);
});
