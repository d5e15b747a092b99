import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { KubernetesApiError, LeaseholdError } from '../errors.ts';
import type { RawLease } from './record.ts';

export interface LeaseRef {
  namespace: string;
  name: string;
}

/** The few Kubernetes calls the elector makes. Raw JSON, so fields we do not know survive a write. */
export interface LeaseApi {
  get(timeoutMs: number): Promise<RawLease | undefined>;
  create(lease: RawLease, timeoutMs: number): Promise<RawLease>;
  replace(lease: RawLease, timeoutMs: number): Promise<RawLease>;
  /** Streams watch events until the signal aborts or the server ends the watch. */
  watch(
    resourceVersion: string | undefined,
    signal: AbortSignal,
    onEvent: (event: WatchEvent) => void,
  ): Promise<void>;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: RawLease & { code?: number; message?: string };
}

/** Authenticated JSON requests through @kubernetes/client-node's KubeConfig (in-cluster or file). */
export class KubeRequester {
  readonly #kubeConfig: KubeConfig;
  readonly #server: string;

  constructor(kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new LeaseholdError('LEASEHOLD_KUBECONFIG', 'it names no current cluster');
    this.#kubeConfig = kubeConfig;
    this.#server = cluster.server.replace(/\/$/, '');
  }

  async request(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    path: string,
    options: { body?: unknown; timeoutMs?: number; signal?: AbortSignal; contentType?: string } = {},
  ): Promise<{ status: number; body: unknown; stream?: ReadableStream<Uint8Array> }> {
    const context = new RequestContext(this.#server + path, HttpMethod[method]);
    await this.#kubeConfig.applySecurityAuthentication(context);
    const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const signals = [options.signal, options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined];
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
      return { status: 200, body: undefined, stream: response.body as ReadableStream<Uint8Array> };
    }
    let body: unknown;
    try {
      const text = await response.text();
      body = text === '' ? undefined : JSON.parse(text);
    } catch (err) {
      throw transportError(err, method, path);
    }
    if (response.status >= 400) {
      const status = body as { reason?: string; message?: string } | undefined;
      throw new KubernetesApiError(
        response.status,
        status?.reason ?? 'Unknown',
        `${method} ${path}: ${response.status} ${status?.message ?? ''}`.trim(),
      );
    }
    return { status: response.status, body };
  }
}

function transportError(err: unknown, method: string, path: string): KubernetesApiError {
  const e = err as { name?: string; cause?: { code?: string }; code?: string; message?: string };
  const reason =
    e.name === 'TimeoutError'
      ? 'Timeout'
      : e.name === 'AbortError'
        ? 'Aborted'
        : (e.cause?.code ?? e.code ?? 'Network');
  return new KubernetesApiError(0, reason, `${method} ${path}: ${reason} (${e.message ?? String(err)})`, err);
}

export class HttpLeaseApi implements LeaseApi {
  readonly #requester: KubeRequester;
  readonly #collection: string;
  readonly #ref: LeaseRef;

  constructor(requester: KubeRequester, ref: LeaseRef) {
    this.#requester = requester;
    this.#ref = ref;
    this.#collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ref.namespace)}/leases`;
  }

  async get(timeoutMs: number): Promise<RawLease | undefined> {
    try {
      const { body } = await this.#requester.request('GET', `${this.#collection}/${this.#ref.name}`, {
        timeoutMs,
      });
      return body as RawLease;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.httpStatus === 404) return undefined;
      throw err;
    }
  }

  async create(lease: RawLease, timeoutMs: number): Promise<RawLease> {
    const { body } = await this.#requester.request('POST', this.#collection, { body: lease, timeoutMs });
    return body as RawLease;
  }

  async replace(lease: RawLease, timeoutMs: number): Promise<RawLease> {
    const { body } = await this.#requester.request('PUT', `${this.#collection}/${this.#ref.name}`, {
      body: lease,
      timeoutMs,
    });
    return body as RawLease;
  }

  async watch(
    resourceVersion: string | undefined,
    signal: AbortSignal,
    onEvent: (event: WatchEvent) => void,
  ): Promise<void> {
    const query = new URLSearchParams({
      watch: '1',
      fieldSelector: `metadata.name=${this.#ref.name}`,
      allowWatchBookmarks: 'true',
      // The server ends each watch after a few minutes; we then resume from the last version seen.
      timeoutSeconds: String(240 + Math.floor(Math.random() * 120)),
    });
    if (resourceVersion) query.set('resourceVersion', resourceVersion);
    const { stream } = await this.#requester.request('GET', `${this.#collection}?${query}`, { signal });
    if (!stream) return;
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of stream) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline = buffered.indexOf('\n');
        while (newline !== -1) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line !== '') onEvent(JSON.parse(line) as WatchEvent);
          newline = buffered.indexOf('\n');
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw transportError(err, 'WATCH', this.#collection);
    }
  }
}
