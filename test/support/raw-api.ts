import { Agent, fetch } from 'undici';
import { testCluster } from './cluster.ts';

let agent: Agent | undefined;

/** A raw JSON request to the test apiserver (admin token unless another is given). */
export async function rawApi(
  method: string,
  path: string,
  options: { body?: unknown; token?: string; contentType?: string } = {},
): Promise<{ status: number; body: any }> {
  const { info } = testCluster();
  agent ??= new Agent({ connect: { ca: info.caPem } });
  const response = await fetch(`${info.server}${path}`, {
    method,
    dispatcher: agent,
    headers: {
      authorization: `Bearer ${options.token ?? info.adminToken}`,
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
