import { Readable } from 'node:stream';
// Deep imports: the package root would load every generated API model (~760 modules).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { fetch } from 'undici';
import { LeaseholdError } from '../errors.ts';
import {
  apiError,
  type KubeRequest,
  type KubeRequester,
  type KubeResponse,
  parseBody,
  transportError,
} from './connection.ts';

/**
 * Requests authenticated by @kubernetes/client-node, for kubeconfigs whose authentication the sidecar
 * does not do itself (exec plugins, auth providers, proxies, impersonation). Loaded only for those: a pod
 * with a ServiceAccount never pays for it. client-node builds a connection per request.
 */
export class DelegatedConnection implements KubeRequester {
  readonly #kubeConfig: KubeConfig;
  readonly #server: string;

  private constructor(kubeConfig: KubeConfig, server: string) {
    this.#kubeConfig = kubeConfig;
    this.#server = server;
  }

  static load(path: string): DelegatedConnection {
    const kubeConfig = new KubeConfig();
    try {
      kubeConfig.loadFromFile(path);
    } catch (err) {
      throw new LeaseholdError('LEASEHOLD_KUBECONFIG', path, { cause: err });
    }
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new LeaseholdError('LEASEHOLD_KUBECONFIG', `${path} names no current cluster`);
    return new DelegatedConnection(kubeConfig, cluster.server.replace(/\/$/, ''));
  }

  async request(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: KubeRequest = {},
  ): Promise<KubeResponse> {
    const context = new RequestContext(this.#server + path, HttpMethod[method]);
    await this.#kubeConfig.applySecurityAuthentication(context);
    const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const signals = [
      options.signal,
      options.timeoutMs ? AbortSignal.timeout(Math.max(1, Math.ceil(options.timeoutMs))) : undefined,
    ];
    const active = signals.filter((s): s is AbortSignal => s !== undefined);
    let response: Awaited<ReturnType<typeof fetch>>;
    try {
      response = await fetch(context.getUrl(), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        dispatcher: context.getDispatcher(),
        signal: active.length > 0 ? AbortSignal.any(active) : undefined,
      });
    } catch (err) {
      throw transportError(err, method, path);
    }
    if (path.includes('watch=1') && response.status === 200 && response.body) {
      return { status: 200, body: undefined, stream: Readable.fromWeb(response.body as never) };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw transportError(err, method, path);
    }
    const body = parseBody(text, response.status, method, path);
    if (response.status >= 400)
      throw apiError(response.status, body, method, path, response.headers.get('retry-after'));
    return { status: response.status, body };
  }

  async close(): Promise<void> {}
}
