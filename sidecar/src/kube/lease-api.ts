import { KubernetesApiError } from '../errors.ts';
import type { RawLease } from '../lease/record.ts';
import { type KubeRequester, transportError } from './connection.ts';

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
    stream.setEncoding('utf8');
    let buffered = '';
    try {
      for await (const chunk of stream) {
        buffered += chunk as string;
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
