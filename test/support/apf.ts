import { fetch } from 'undici';
import { testCluster } from './cluster.ts';
import { rawApi } from './raw-api.ts';
import { agentFor } from './watch-stream.ts';

export const flowcontrol = '/apis/flowcontrol.apiserver.k8s.io/v1';

/** A GET with `token`: the FlowSchema and priority level (uids) API Priority and Fairness chose for it. */
export async function classify(
  path: string,
  token: string,
): Promise<{ flowSchema: string; priorityLevel: string }> {
  const { info } = testCluster();
  const response = await fetch(`${info.server}${path}`, {
    dispatcher: agentFor(info.caPem),
    headers: { authorization: `Bearer ${token}` },
  });
  await response.text();
  return {
    flowSchema: response.headers.get('x-kubernetes-pf-flowschema-uid') ?? '',
    priorityLevel: response.headers.get('x-kubernetes-pf-prioritylevel-uid') ?? '',
  };
}

export const uidOf = async (path: string): Promise<string> =>
  (await rawApi('GET', path)).body?.metadata?.uid ?? '';

/** A token of a ServiceAccount of the shared test cluster. */
export async function serviceAccountToken(namespace: string, name: string): Promise<string> {
  const issued = await testCluster().core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  return issued.status?.token ?? '';
}
