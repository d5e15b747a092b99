// The two parts of undici the apiserver connection uses, loaded without undici's index (fetch, WebSocket,
// EventSource, caches, mocks). undici has no `exports` map, so its files can be imported by path (the
// bundle takes them in); their types are the package's own (undici-modules.d.ts).
/// <reference path="./undici-modules.d.ts" />
import type { Dispatcher } from 'undici';
import requestOn from 'undici/lib/api/api-request.js';
import AgentImpl from 'undici/lib/dispatcher/agent.js';

/** undici's Agent (a pool of connections per origin). */
export const Agent = AgentImpl;
export type Agent = InstanceType<typeof AgentImpl>;

/** `agent.request(options)`, which undici's index adds to every dispatcher and is not loaded here. */
export function request(
  agent: Dispatcher,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return requestOn.call(agent, options);
}
