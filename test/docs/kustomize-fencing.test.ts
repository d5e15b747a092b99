// docs/fencing.md's kustomize section, followed literally on a kubebuilder layout gated with the
// leasehold-sidecar component (docs/adding-to-your-controller.md, section 2): the build names the final
// ServiceAccount, namespace and Lease; applied on the real apiserver, writes of that ServiceAccount are
// admitted only with a token bound to the pod that holds the Lease, its Lease writes never are judged,
// and a build without the doc's patch, or with two ServiceAccounts, is refused.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kubectl, podBoundToken, testCluster } from '../support/cluster.ts';
import { applySteps, docSteps, runBlock, toolPath, workspace } from '../support/doc-steps.ts';
import { type K8sObject, parseManifest } from '../support/helm.ts';
import { kubebuilderLayout } from '../support/kubebuilder-layout.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { waitUntil } from '../support/sidecar.ts';

const fencingDoc = fileURLToPath(new URL('../../docs/fencing.md', import.meta.url));
// Its own project name: the kustomize test of adding-paths applies `billing` to the same apiserver.
const project = 'ledger';
const namespace = `${project}-system`;
const name = `${project}-controller-manager`; // the Deployment, its ServiceAccount and the Lease
let env: Record<string, string>;

before(async () => {
  env = { PATH: await toolPath(await workspace('tools')), KUBECONFIG: testCluster().info.kubeconfigPath };
});

let written = 0;
async function writeAs(token: string): Promise<{ status: number; message: string }> {
  const { status, body } = await rawApi('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
    token,
    body: { metadata: { name: `fenced-${written++}` } },
  });
  return { status, message: body?.message ?? '' };
}

test('kustomize fencing as docs/fencing.md writes it: only the pod holding the Lease writes; the Lease itself is never judged; refusals', async () => {
  const root = join(await workspace('kubebuilder-fencing'), project);
  await kubebuilderLayout(root, project);
  await applySteps(root, await docSteps('2. kustomize'));
  const runs = await applySteps(root, await docSteps('kustomize: the', fencingDoc));
  assert.equal(runs.length, 1);
  const [build, apply] = String(runs[0]?.blocks[0]).trim().split('\n') as [string, string];
  await runBlock(build, root, env);
  const objects = parseManifest(await readFile(join(root, 'leasehold.yaml'), 'utf8'));
  const policy = objects.find((o) => o.kind === 'ValidatingAdmissionPolicy') as K8sObject;
  const binding = objects.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding') as K8sObject;
  const fencingName = `leasehold-fencing-${namespace}-${name}`;
  assert.equal(policy.metadata.name, fencingName);
  assert.deepEqual(
    [binding.metadata.name, binding.spec.policyName, binding.spec.paramRef],
    [fencingName, fencingName, { name, namespace, parameterNotFoundAction: 'Deny' }],
  );
  assert.equal(
    policy.spec.matchConditions[0].expression,
    `request.userInfo.username == 'system:serviceaccount:' + '${namespace}' + ':' + '${name}'`,
    "the ServiceAccount's final name, with the namePrefix",
  );
  assert.deepEqual(policy.spec.matchConstraints.namespaceSelector.matchLabels, {
    'kubernetes.io/metadata.name': namespace,
  });

  await runBlock(apply, root, env);
  // What the controller writes besides its Lease (kubebuilder's own role has only its CRD).
  await kubectl(['-n', namespace, 'create', 'role', 'configmaps', '--verb=create', '--resource=configmaps']);
  await kubectl([
    '-n',
    namespace,
    'create',
    'rolebinding',
    'configmaps',
    '--role=configmaps',
    `--serviceaccount=${namespace}:${name}`,
  ]);
  const tokens = {
    a: await podBoundToken(namespace, name, `${name}-a`),
    b: await podBoundToken(namespace, name, `${name}-b`),
  };
  const { status } = await rawApi('POST', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
    body: { metadata: { name }, spec: { holderIdentity: `${name}-a_k3j2`, leaseDurationSeconds: 15 } },
  });
  assert.equal(status, 201);
  const refusal = await waitUntil(
    "the policy refusing pod b's write, naming the holder",
    async () => {
      const answer = await writeAs(tokens.b);
      return answer.status === 422 && answer.message.includes('holder: ') ? answer : undefined;
    },
    20_000,
    100,
  );
  assert.match(
    refusal.message,
    new RegExp(
      `leasehold fencing: pod ${name}-b does not hold Lease ${namespace}/${name} \\(holder: ${name}-a_k3j2\\)`,
    ),
  );
  assert.equal((await writeAs(tokens.a)).status, 201, 'the holder writes');
  // The sidecar of a replica that does not lead still campaigns: its Lease write is not judged, even by
  // rules that name Leases (kustomize cannot refuse them); the marked message shows the edit in force.
  const policyPath = `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${fencingName}`;
  const live = (await rawApi('GET', policyPath)).body;
  live.spec.matchConstraints.resourceRules.push({
    apiGroups: ['coordination.k8s.io'],
    apiVersions: ['*'],
    resources: ['leases'],
    operations: ['UPDATE'],
  });
  live.spec.validations[0].messageExpression += " + ' [rules naming leases]'";
  assert.equal((await rawApi('PUT', policyPath, { body: live })).status, 200);
  await waitUntil(
    'the edited policy in force',
    async () => ((await writeAs(tokens.b)).message.endsWith('[rules naming leases]') ? true : undefined),
    20_000,
    100,
  );
  const lease = await rawApi('GET', leasePath(namespace, name));
  lease.body.spec.holderIdentity = `${name}-b_x9q1`;
  assert.equal(
    (await rawApi('PUT', leasePath(namespace, name), { token: tokens.b, body: lease.body })).status,
    200,
  );
  await waitUntil(
    'the right to write moving with the Lease',
    async () => ((await writeAs(tokens.b)).status === 201 ? true : undefined),
    10_000,
    50,
  );
  assert.equal((await writeAs(tokens.a)).status, 422, 'the old holder no longer writes');

  // Without the doc's patch nothing is installed that fences nothing; two ServiceAccounts fail the build.
  const kustomization = join(root, 'config/leasehold/kustomization.yaml');
  const withPatch = await readFile(kustomization, 'utf8');
  await writeFile(kustomization, withPatch.slice(0, withPatch.indexOf('patches:')));
  await runBlock(build, root, env);
  // Created under another name: the one applied above is already there.
  const unpatched = parseManifest(await readFile(join(root, 'leasehold.yaml'), 'utf8')).find(
    (o) => o.kind === 'ValidatingAdmissionPolicy',
  ) as K8sObject;
  unpatched.metadata.name = `${fencingName}-unpatched`;
  const unpatchedFile = join(root, 'unpatched.json');
  await writeFile(unpatchedFile, JSON.stringify(unpatched));
  const refused = await kubectl(['create', '--dry-run=server', '-f', unpatchedFile]).then(
    () => assert.fail('a policy without resourceRules was accepted'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(refused, /spec\.matchConstraints\.resourceRules: Required value/);
  await writeFile(kustomization, withPatch);
  const rbac = join(root, 'config/rbac/kustomization.yaml');
  await writeFile(rbac, (await readFile(rbac, 'utf8')).replace('- role.yaml', '- role.yaml\n- other.yaml'));
  await writeFile(
    join(root, 'config/rbac/other.yaml'),
    'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: metrics-reader\n  namespace: system\n',
  );
  const two = await runBlock(build, root, env).then(
    () => assert.fail('built with two ServiceAccounts'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(two, /multiple matches for selector ServiceAccount/);
});
