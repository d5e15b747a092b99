import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import type { ControlPlaneInfo } from '../cluster/control-plane.ts';
import { renderKubeconfig } from '../cluster/kubeconfig.ts';
import { rawApi } from './raw-api.ts';
import type { ApiTarget } from './watch-stream.ts';

/** The control plane started by cluster/global-setup.ts, with admin clients and helpers. */
export interface TestCluster {
  info: ControlPlaneInfo;
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  rbac: RbacAuthorizationV1Api;
  coordination: CoordinationV1Api;
}

let cluster: TestCluster | undefined;

export function testCluster(): TestCluster {
  if (cluster) return cluster;
  const file = process.env.LEASEHOLD_TEST_CLUSTER;
  if (!file)
    throw new Error(
      'LEASEHOLD_TEST_CLUSTER is not set: run through `npm test` (it starts the control plane)',
    );
  const info = JSON.parse(readFileSync(file, 'utf8')) as ControlPlaneInfo;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(info.kubeconfigPath);
  cluster = {
    info,
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    rbac: kubeConfig.makeApiClient(RbacAuthorizationV1Api),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
  };
  return cluster;
}

let counter = 0;

/** A fresh namespace for one test file (namespaces never finish deleting without a controller-manager). */
export async function createNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 6)}`.slice(0, 63);
  await testCluster().core.createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

/** The Role the chart grants the sidecar: its one Lease by name, creating Leases, and Events. */
export function sidecarRules(leaseName: string): V1PolicyRule[] {
  return [
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: [leaseName],
      verbs: ['get', 'watch', 'update', 'patch'],
    },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  ];
}

/** A ServiceAccount bound to a Role with `rules` (none: no Role at all). */
export async function createServiceAccount(
  namespace: string,
  name: string,
  rules: V1PolicyRule[],
): Promise<void> {
  const { core, rbac } = testCluster();
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  if (rules.length === 0) return;
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
}

/** A kubeconfig file holding a TokenRequest token for the ServiceAccount; returns its path. */
export async function serviceAccountKubeconfig(
  namespace: string,
  name: string,
  server?: string,
): Promise<string> {
  const { core, info } = testCluster();
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const path = join(info.dir, `${namespace}-${name}-${Math.random().toString(36).slice(2, 8)}.kubeconfig`);
  const text = renderKubeconfig({
    server: server ?? info.server,
    caPem: info.caPem,
    token: token.status?.token ?? '',
    user: `system:serviceaccount:${namespace}:${name}`,
    namespace,
  });
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

/**
 * A token of the ServiceAccount bound to a Pod object `podName` created for it (as the kubelet mounts
 * one): the apiserver then names the pod in the request's user extra, which the fencing policy checks.
 */
export async function podBoundToken(
  namespace: string,
  serviceAccount: string,
  podName: string,
  target: ApiTarget = testCluster().info,
): Promise<string> {
  const create = async (path: string, body: unknown) => {
    const { status, body: answer } = await rawApi('POST', `/api/v1/namespaces/${namespace}/${path}`, {
      body,
      target,
    });
    if (status !== 201) throw new Error(`POST ${path}: ${status} ${JSON.stringify(answer)}`);
    return answer;
  };
  const pod = await create('pods', {
    metadata: { name: podName },
    // Admitted under the `restricted` Pod Security level too (a kubebuilder namespace enforces it).
    spec: {
      serviceAccountName: serviceAccount,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'c',
          image: 'example.invalid/c',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  });
  const issued = await create(`serviceaccounts/${serviceAccount}/token`, {
    spec: {
      audiences: [],
      expirationSeconds: 3600,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod.metadata.uid },
    },
  });
  return issued.status.token;
}

/** Runs the pinned kubectl against the test cluster. */
export async function kubectl(args: string[], kubeconfig = testCluster().info.kubeconfigPath) {
  return promisify(execFile)(testCluster().info.binaries.kubectl, ['--kubeconfig', kubeconfig, ...args], {
    maxBuffer: 16 << 20,
  });
}

/** `kubectl auth can-i` as a ServiceAccount: kubectl's answer, "yes" or "no". */
export async function canI(
  serviceAccount: { namespace: string; name: string },
  verb: string,
  resource: string,
  inNamespace = serviceAccount.namespace,
): Promise<string> {
  const as = `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`;
  return kubectl(['auth', 'can-i', verb, resource, '--as', as, '-n', inNamespace]).then(
    (r) => r.stdout.trim(),
    (e: { stdout: string }) => e.stdout.trim(),
  );
}
