import { Agent, fetch } from 'undici';

export interface ApiTarget {
  server: string;
  caPem: string;
  adminToken: string;
}

const agents = new Map<string, Agent>();

/** One keep-alive agent per apiserver CA. */
export function agentFor(caPem: string): Agent {
  let agent = agents.get(caPem);
  if (!agent) {
    agent = new Agent({ connect: { ca: caPem } });
    agents.set(caPem, agent);
  }
  return agent;
}

/** Streams a Kubernetes watch (`path` with ?watch=1) as admin, one parsed event per line. */
export async function watchEvents(
  target: ApiTarget,
  path: string,
  signal: AbortSignal,
  onEvent: (event: { type: string; object: any }) => void,
): Promise<void> {
  const response = await fetch(`${target.server}${path}`, {
    dispatcher: agentFor(target.caPem),
    headers: { authorization: `Bearer ${target.adminToken}` },
    signal,
  });
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim()) onEvent(JSON.parse(line));
    }
  }
}

/**
 * Keeps a watch open until `signal` aborts: resumes from the last resourceVersion after the stream
 * ends or breaks (an apiserver restart, say), and starts afresh after 410 Gone.
 */
export async function keepWatching(
  target: ApiTarget,
  path: string,
  signal: AbortSignal,
  onEvent: (event: { type: string; object: any }) => void,
): Promise<void> {
  let resourceVersion = '';
  while (!signal.aborted) {
    const query = `${path.includes('?') ? '&' : '?'}watch=1&allowWatchBookmarks=true${resourceVersion ? `&resourceVersion=${resourceVersion}` : ''}`;
    await watchEvents(target, path + query, signal, (event) => {
      if (event.type === 'ERROR') {
        resourceVersion = '';
        return;
      }
      resourceVersion = event.object?.metadata?.resourceVersion ?? resourceVersion;
      if (event.type !== 'BOOKMARK') onEvent(event);
    }).catch(() => {});
    if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
