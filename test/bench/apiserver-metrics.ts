import { fetch } from 'undici';
import type { ApiTarget } from '../support/watch-stream.ts';
import { agentFor } from '../support/watch-stream.ts';

/** apiserver_request_total for coordination leases, summed by verb, read from the apiserver itself. */
export async function leaseRequestsByVerb(target: ApiTarget): Promise<Record<string, number>> {
  const response = await fetch(`${target.server}/metrics`, {
    dispatcher: agentFor(target.caPem),
    headers: { authorization: `Bearer ${target.adminToken}` },
  });
  const text = await response.text();
  const byVerb: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (
      !line.startsWith('apiserver_request_total{') ||
      !line.includes('resource="leases"') ||
      !line.includes('group="coordination.k8s.io"')
    )
      continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? 'UNKNOWN';
    byVerb[verb] = (byVerb[verb] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return byVerb;
}

export function difference(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [verb, count] of Object.entries(after)) {
    const delta = count - (before[verb] ?? 0);
    if (delta > 0) result[verb] = delta;
  }
  return result;
}
