import { fetch } from 'undici';
import { testCluster } from './cluster.ts';
import { type ApiTarget, agentFor } from './watch-stream.ts';

/** A raw JSON request to an apiserver (the shared test one unless `target` says otherwise). */
export async function rawApi(
  method: string,
  path: string,
  options: { body?: unknown; token?: string; contentType?: string; target?: ApiTarget } = {},
): Promise<{ status: number; body: any }> {
  const target = options.target ?? testCluster().info;
  const response = await fetch(`${target.server}${path}`, {
    method,
    dispatcher: agentFor(target.caPem),
    headers: {
      authorization: `Bearer ${options.token ?? target.adminToken}`,
      accept: 'application/json',
      ...(options.body === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

export function leasePath(namespace: string, name?: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases${name ? `/${name}` : ''}`;
}
