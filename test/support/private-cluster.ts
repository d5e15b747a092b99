import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1PolicyRule } from '@kubernetes/client-node';
import { ControlPlane } from '../cluster/control-plane.ts';
import { renderKubeconfig } from '../cluster/kubeconfig.ts';
import { rawApi } from './raw-api.ts';

/**
 * A control plane of a test's own (it may be stopped or cut off without disturbing other tests), with
 * one namespace and one ServiceAccount bound to `rules` — the RBAC the chart gives the sidecar.
 */
export class PrivateCluster {
  readonly controlPlane: ControlPlane;
  readonly namespace: string;
  readonly #token: string;

  private constructor(controlPlane: ControlPlane, namespace: string, token: string) {
    this.controlPlane = controlPlane;
    this.namespace = namespace;
    this.#token = token;
  }

  /** The ServiceAccount's token. */
  get token(): string {
    return this.#token;
  }

  static async start(
    namespace: string,
    rules: V1PolicyRule[],
    serviceAccount = 'leasehold',
    apiserverArgs: string[] = [],
  ): Promise<PrivateCluster> {
    const controlPlane = await ControlPlane.start({ apiserverArgs });
    const target = controlPlane.info;
    const create = async (path: string, body: unknown) => {
      const { status, body: answer } = await rawApi('POST', path, { body, target });
      if (status >= 300) throw new Error(`POST ${path}: ${status} ${JSON.stringify(answer)}`);
      return answer;
    };
    await create('/api/v1/namespaces', { metadata: { name: namespace } });
    await create(`/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: serviceAccount } });
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
    await create(`${rbac}/roles`, { metadata: { name: serviceAccount }, rules });
    await create(`${rbac}/rolebindings`, {
      metadata: { name: serviceAccount },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: serviceAccount },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
    });
    const token = await create(`/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
      spec: { audiences: [], expirationSeconds: 86_400 },
    });
    return new PrivateCluster(controlPlane, namespace, token.status.token);
  }

  /** A kubeconfig with the ServiceAccount's token that reaches the apiserver at `port` (a proxy, say). */
  async kubeconfig(name: string, port = this.controlPlane.info.apiserverPort): Promise<string> {
    const path = join(this.controlPlane.info.dir, `${name}.kubeconfig`);
    const text = renderKubeconfig({
      server: `https://127.0.0.1:${port}`,
      caPem: this.controlPlane.info.caPem,
      token: this.#token,
      user: 'leasehold',
      namespace: this.namespace,
    });
    await writeFile(path, text, { mode: 0o600 });
    return path;
  }

  async stop(): Promise<void> {
    await this.controlPlane.stop();
  }
}
