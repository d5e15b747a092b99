// docs/adding-to-your-controller.md, followed literally on inputs that are not ours: a chart made by
// `helm create`, a kubebuilder-style kustomize layout (namePrefix + namespace), and the plain-manifest
// path into the wrong namespace. Each result is checked by the real apiserver (server-side dry run in a
// `restricted` namespace, zero warnings) and by `kubectl auth can-i` for the pod's ServiceAccount.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { classify, flowcontrol, serviceAccountToken, uidOf } from '../support/apf.ts';
import { canI, createNamespace, kubectl, testCluster } from '../support/cluster.ts';
import {
  applySteps,
  docSteps,
  helmCreateChartFromDoc,
  runBlock,
  toolPath,
  workspace,
} from '../support/doc-steps.ts';
import { helm, type K8sObject, parseManifest as parse } from '../support/helm.ts';
import { kubebuilderLayout } from '../support/kubebuilder-layout.ts';
import { leasePath } from '../support/raw-api.ts';
import { waitUntil } from '../support/sidecar.ts';

const restricted = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/warn': 'restricted',
};
let env: Record<string, string>;

before(async () => {
  env = { PATH: await toolPath(await workspace('tools')), KUBECONFIG: testCluster().info.kubeconfigPath };
});

/** Server-side dry run of a manifest file; returns kubectl's stdout and stderr (warnings go there). */
async function dryRun(file: string, namespace?: string) {
  return kubectl([
    'apply',
    '--dry-run=server',
    '--validate=strict',
    ...(namespace ? ['-n', namespace] : []),
    '-f',
    file,
  ]);
}

/** `kubectl auth can-i` as a ServiceAccount: true for yes. */
async function can(namespace: string, serviceAccount: string, verb: string, resource: string) {
  return (await canI({ namespace, name: serviceAccount }, verb, resource)) === 'yes';
}

/** What the sidecar's ServiceAccount may do: exactly its own Lease, creating Leases, Events. */
async function assertLeastPrivilege(namespace: string, serviceAccount: string, lease: string) {
  assert.equal(await can(namespace, serviceAccount, 'update', `leases/${lease}`), true, 'renews its Lease');
  assert.equal(await can(namespace, serviceAccount, 'watch', `leases/${lease}`), true, 'watches its Lease');
  assert.equal(await can(namespace, serviceAccount, 'create', 'leases'), true, 'creates its Lease');
  assert.equal(await can(namespace, serviceAccount, 'create', 'events'), true, 'records Events');
  assert.equal(
    await can(namespace, serviceAccount, 'update', 'leases/someone-else'),
    false,
    'other Leases: no',
  );
  assert.equal(await can(namespace, serviceAccount, 'get', 'secrets'), false, 'Secrets: no');
}

test('Helm: the doc on a `helm create` chart renders the sidecar, passes restricted, grants only its Lease', async () => {
  const dir = await workspace('helm-create');
  const chart = await helmCreateChartFromDoc(dir, 'billing-operator');
  const namespace = await createNamespace('doc-helm', restricted);
  // The user's own container made restricted-compliant, as it must be in such a namespace anyway.
  const userValues = join(dir, 'user-values.yaml');
  await writeFile(
    userValues,
    [
      'replicaCount: 2',
      'podSecurityContext: { runAsNonRoot: true, runAsUser: 101, seccompProfile: { type: RuntimeDefault } }',
      'securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } }',
    ].join('\n'),
  );
  const render = async (...sets: string[]) =>
    (
      await helm([
        'template',
        'billing',
        chart,
        '--namespace',
        namespace,
        '--kube-version',
        '1.36.3',
        '--skip-tests',
        '-f',
        userValues,
        ...sets,
      ])
    ).stdout;

  const manifest = await render();
  const objects = parse(manifest);
  const pod = objects.find((o) => o.kind === 'Deployment')?.spec.template.spec;
  assert.deepEqual(
    pod.initContainers.map((c: { name: string }) => c.name),
    ['leasehold'],
  );
  assert.equal(pod.initContainers[0].restartPolicy, 'Always');
  assert.equal(
    pod.initContainers[0].image,
    'ghcr.io/leasehold/sidecar:0.1.0',
    "the library's tag, not the chart's",
  );
  assert.deepEqual(pod.containers[0].env, [{ name: 'LEASEHOLD_URL', value: 'http://127.0.0.1:4040' }]);
  assert.ok(pod.volumes.some((v: { name: string }) => v.name === 'leasehold-tmp'));
  assert.equal(objects.find((o) => o.kind === 'PodDisruptionBudget')?.spec.maxUnavailable, 1);

  const file = join(dir, 'rendered.yaml');
  await writeFile(file, manifest);
  const { stdout, stderr } = await dryRun(file);
  assert.match(stdout, /deployment.apps\/billing-billing-operator created \(server dry run\)/);
  assert.equal(stderr.trim(), '', 'no warnings under restricted');
  await kubectl(['apply', '-f', file]);
  await assertLeastPrivilege(namespace, 'billing-billing-operator', 'billing-leader');

  // Plain placement (Kubernetes < 1.29): the sidecar moves to containers, volumes stay, still valid.
  const plain = join(dir, 'plain.yaml');
  await writeFile(plain, await render('--set', 'leasehold.nativeSidecar=false'));
  const plainPod = parse(await readFile(plain, 'utf8')).find((o) => o.kind === 'Deployment')?.spec.template
    .spec;
  assert.equal(plainPod.initContainers, null);
  assert.deepEqual(
    plainPod.containers.map((c: { name: string }) => c.name),
    ['leasehold', 'billing-operator'],
  );
  assert.equal((await dryRun(plain)).stderr.trim(), '');

  // Errors name the key: a misspelt one, and an invalid partial block.
  const failure = (...sets: string[]) =>
    render(...sets).then(
      () => assert.fail(`rendered with ${sets.join(' ')}`),
      (err: { stderr: string }) => err.stderr,
    );
  assert.match(
    await failure('--set', 'leasehold.election.leaseDurationSecond=20'),
    /unknown key leasehold\.election\.leaseDurationSecond/,
  );
  assert.match(
    await failure('--set', 'leasehold.election.leaseDurationSeconds=8'),
    /leasehold\.election\.renewDeadlineSeconds \(10\) must be less than leaseDurationSeconds \(8\)/,
  );
  assert.match(
    await failure('--set', 'leasehold.port=http'),
    /leasehold\.port must be a number, got string "http"/,
  );
  assert.match(
    await failure('--kube-version', '1.28.4'),
    /leasehold\.nativeSidecar needs Kubernetes >= 1\.29 \(this cluster: v1\.28\.4\); set leasehold\.nativeSidecar=false/,
  );
});

test('kustomize: the doc on a kubebuilder layout with namePrefix and namespace: sidecar, derived names, least privilege', async () => {
  const dir = await workspace('kubebuilder');
  const project = join(dir, 'billing');
  await kubebuilderLayout(project);
  const runs = await applySteps(project, await docSteps('2. kustomize'));
  assert.equal(runs.length, 1);
  // The doc's first command renders (checked here), its second applies what was rendered.
  const [build, apply] = String(runs[0]?.blocks[0]).trim().split('\n') as [string, string];
  await runBlock(build, project, env);
  const manifest = await readFile(join(project, 'leasehold.yaml'), 'utf8');
  const objects = parse(manifest);
  const deployment = objects.find((o) => o.kind === 'Deployment') as K8sObject;
  const pod = deployment.spec.template.spec;
  const sidecarEnv = Object.fromEntries(
    pod.initContainers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]),
  );
  assert.equal(
    sidecarEnv.LEASE_NAME,
    'billing-controller-manager',
    'the Lease is named after the final Deployment name',
  );
  assert.deepEqual(pod.containers[0].env, [{ name: 'LEASEHOLD_URL', value: 'http://127.0.0.1:4040' }]);
  const binding = objects.find((o) => o.kind === 'RoleBinding') as K8sObject;
  assert.equal(binding.metadata.name, 'billing-controller-manager-leasehold');
  assert.deepEqual(binding.subjects, [
    { kind: 'ServiceAccount', name: 'billing-controller-manager', namespace: 'billing-system' },
  ]);

  // The Lease requests in the leader-election priority level, for this ServiceAccount only.
  const flowSchema = objects.find((o) => o.kind === 'FlowSchema') as K8sObject;
  assert.equal(flowSchema.metadata.name, 'leasehold-billing-system-billing-controller-manager');
  assert.equal(flowSchema.metadata.namespace, undefined, 'cluster-scoped');
  assert.equal(flowSchema.spec.priorityLevelConfiguration.name, 'leader-election');
  assert.deepEqual(flowSchema.spec.rules, [
    {
      subjects: [
        {
          kind: 'ServiceAccount',
          serviceAccount: { name: '*', namespace: 'billing-system' },
        },
      ],
      resourceRules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'create', 'update', 'patch'],
          namespaces: ['billing-system'],
        },
      ],
    },
  ]);

  const applied = await runBlock(apply, project, env);
  assert.match(applied.stdout, /deployment.apps\/billing-controller-manager serverside-applied/);
  assert.match(
    applied.stdout,
    /flowschema.flowcontrol.apiserver.k8s.io\/leasehold-billing-system-billing-controller-manager serverside-applied/,
  );
  const token = await serviceAccountToken('billing-system', 'billing-controller-manager');
  const leaderElection = await uidOf(`${flowcontrol}/prioritylevelconfigurations/leader-election`);
  await waitUntil(
    "the apiserver classifying the controller's Lease requests as leader-election",
    async () => {
      const { priorityLevel } = await classify(
        leasePath('billing-system', 'billing-controller-manager'),
        token,
      );
      return priorityLevel === leaderElection ? true : undefined;
    },
    10_000,
    100,
  );
  const other = await classify('/api/v1/namespaces/billing-system/configmaps', token);
  assert.notEqual(other.priorityLevel, leaderElection, 'its other requests are ordinary traffic');
  assert.equal(applied.stderr.trim(), '', 'no warnings under restricted');
  await assertLeastPrivilege('billing-system', 'billing-controller-manager', 'billing-controller-manager');

  // Mismatches fail the build with what is wrong, never a silent no-op.
  const manager = join(project, 'config/manager/kustomization.yaml');
  const labelled = await readFile(manager, 'utf8');
  await writeFile(manager, labelled.replace('leasehold.io~1sidecar', 'leasehold.io~1sidekick'));
  const unlabelled = await runBlock(build, project, env).then(
    () => assert.fail('built with no labelled Deployment'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(
    unlabelled,
    /fieldPath `metadata\.labels\.\[leasehold\.io\/sidecar\]` is missing for replacement source Deployment/,
  );
  await writeFile(manager, labelled.replace('- manager.yaml', '- manager.yaml\n- second.yaml'));
  await writeFile(
    join(project, 'config/manager/second.yaml'),
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: webhook, namespace: system }\nspec:\n  selector: { matchLabels: { app: webhook } }\n  template:\n    metadata: { labels: { app: webhook } }\n    spec: { containers: [{ name: webhook, image: webhook }] }\n',
  );
  const two = await runBlock(build, project, env).then(
    () => assert.fail('built with two Deployments'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(two, /multiple matches/);
});

test('plain manifests: the doc commands install into prod; the same file into another namespace is refused', async () => {
  const dir = await workspace('plain');
  await kubectl(['create', 'namespace', 'prod']);
  await kubectl(['label', 'namespace', 'prod', ...Object.entries(restricted).map(([k, v]) => `${k}=${v}`)]);
  const [step] = await docSteps('3. Plain');
  const block = step?.blocks[0] as string;
  const { stderr } = await runBlock(block, join(dir, 'leasehold'), env);
  assert.doesNotMatch(stderr, /Warning/);
  await assertLeastPrivilege('prod', 'my-controller-leasehold', 'my-controller-leasehold');
  const { stdout: flowSchema } = await kubectl([
    'get',
    'flowschema',
    'leasehold-prod-my-controller-leasehold',
    '-o',
    'jsonpath={.spec.priorityLevelConfiguration.name} {.spec.rules[0].subjects[0].serviceAccount.name}',
  ]);
  assert.equal(flowSchema, 'leader-election my-controller-leasehold', 'the FlowSchema came with them');
  const refused = await kubectl([
    'apply',
    '-n',
    'default',
    '-f',
    join(dir, 'leasehold', 'leasehold.yaml'),
  ]).then(
    () => assert.fail('applied into a namespace the RoleBinding does not name'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(
    refused,
    /the namespace from the provided object "prod" does not match the namespace "default"/,
  );
});
