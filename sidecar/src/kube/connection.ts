import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { KubernetesApiError } from '../errors.ts';
import type { CredentialSource, Credentials } from './credentials.ts';
import { Agent, request } from './undici-parts.ts';

export interface KubeRequest {
  body?: unknown;
  timeoutMs?: number;
  signal?: AbortSignal;
  contentType?: string;
}

export interface KubeResponse {
  status: number;
  body: unknown;
  /** For watches: the open response body, one JSON event per line. */
  stream?: Readable;
  /** The Retry-After header, when the server sent one. */
  retryAfter?: string;
}

/** Authenticated JSON requests to the Kubernetes API. */
export interface KubeRequester {
  request(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options?: KubeRequest,
  ): Promise<KubeResponse>;
  close(): Promise<void>;
}

// How often credential files are read again when nothing went wrong (client-go re-reads token files every
// minute too); a 401, a 403 or a TLS failure reads them at once.
const refreshEveryMs = 60_000;
const tlsFailures = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|EPROTO/;

/**
 * One kept-alive connection to the apiserver (HTTP/2 when the server offers it, as kube-apiserver does:
 * the watch and every write share it), rebuilt when the TLS material rotates. Bearer tokens are read
 * again from their file every minute and after an authentication failure.
 */
export class KubeConnection implements KubeRequester {
  readonly #source: Extract<CredentialSource, { kind: 'files' }>;
  readonly #log: Logger | undefined;
  readonly #now: () => number;
  #credentials: Credentials;
  #agent: Agent;
  #origin: string;
  #checkedAt: number;
  /** Requests in flight per connection (watches excluded), so one can be closed once they are done. */
  readonly #inflight = new Map<Agent, Set<Promise<unknown>>>();

  constructor(
    source: Extract<CredentialSource, { kind: 'files' }>,
    options: { logger?: Logger; now?: () => number } = {},
  ) {
    this.#source = source;
    this.#log = options.logger;
    this.#now = options.now ?? (() => performance.now());
    this.#credentials = source.read();
    this.#origin = new URL(this.#credentials.server).origin;
    this.#agent = this.#newAgent(this.#credentials);
    this.#checkedAt = this.#now();
  }

  async request(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: KubeRequest = {},
  ): Promise<KubeResponse> {
    if (this.#now() - this.#checkedAt >= refreshEveryMs) this.#refresh('periodic');
    let response: KubeResponse;
    try {
      response = await this.#send(method, path, options);
      // The credentials may have rotated under us: read them again, and retry once if they did.
      if ((response.status === 401 || response.status === 403) && this.#refresh(`HTTP ${response.status}`))
        response = await this.#send(method, path, options);
    } catch (err) {
      if (!(err instanceof KubernetesApiError) || !tlsFailures.test(err.reason)) throw err;
      if (!this.#refresh(`TLS ${err.reason}`)) throw err;
      response = await this.#send(method, path, options);
    }
    if (response.status >= 400)
      throw apiError(response.status, response.body, method, path, response.retryAfter);
    return response;
  }

  /** Lets requests in flight finish (an Event about the release, say), for at most `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    await this.#retire(this.#agent, graceMs);
  }

  /** Closes a connection once its requests in flight are done (at most `graceMs`); watches are cut. */
  async #retire(agent: Agent, graceMs: number): Promise<void> {
    const pending = [...(this.#inflight.get(agent) ?? [])].map((p) => p.catch(() => {}));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    this.#inflight.delete(agent);
    // destroy(), not close(): undici's close() of an HTTP/2 connection with an open watch never ends.
    await agent.destroy().catch(() => {});
  }

  #send(method: string, path: string, options: KubeRequest): Promise<KubeResponse> {
    const agent = this.#agent;
    const sending = this.#sendOn(agent, method, path, options);
    if (path.includes('watch=1')) return sending;
    const set = this.#inflight.get(agent) ?? new Set();
    this.#inflight.set(agent, set);
    set.add(sending);
    const forget = (): void => {
      set.delete(sending);
    };
    sending.then(forget, forget);
    return sending;
  }

  async #sendOn(agent: Agent, method: string, path: string, options: KubeRequest): Promise<KubeResponse> {
    const { token, basicAuth } = this.#credentials;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    else if (basicAuth) headers.authorization = `Basic ${basicAuth}`;
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const signals = [
      options.signal,
      options.timeoutMs ? AbortSignal.timeout(Math.max(1, Math.ceil(options.timeoutMs))) : undefined,
    ];
    const active = signals.filter((s): s is AbortSignal => s !== undefined);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(agent, {
        origin: this.#origin,
        method: method as Dispatcher.HttpMethod,
        path,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: active.length > 0 ? AbortSignal.any(active) : undefined,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    } catch (err) {
      throw transportError(err, method, path);
    }
    if (path.includes('watch=1') && response.statusCode === 200) {
      return { status: 200, body: undefined, stream: response.body };
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (err) {
      throw transportError(err, method, path);
    }
    const body = parseBody(text, response.statusCode, method, path);
    const retryAfter = response.headers['retry-after'];
    return {
      status: response.statusCode,
      body,
      ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
    };
  }

  /** Reads the credentials again; returns true when they changed (and swaps the connection if TLS did). */
  #refresh(why: string): boolean {
    this.#checkedAt = this.#now();
    let next: Credentials;
    try {
      next = this.#source.read();
    } catch (err) {
      // A file mid-rotation (the kubelet swaps a symlink): keep what works, try again next time.
      this.#log?.warn({ err, why }, 'could not read the API credentials again; keeping the current ones');
      return false;
    }
    const previous = this.#credentials;
    const tlsChanged = next.tlsFingerprint !== previous.tlsFingerprint || next.server !== previous.server;
    const changed = tlsChanged || next.token !== previous.token || next.basicAuth !== previous.basicAuth;
    this.#credentials = next;
    if (tlsChanged) {
      const old = this.#agent;
      this.#origin = new URL(next.server).origin;
      this.#agent = this.#newAgent(next);
      // Writes in flight may finish; the watch is cut and resumes on the new connection.
      void this.#retire(old, 1_000);
    }
    if (changed)
      this.#log?.info(
        { why, tls: tlsChanged, source: this.#source.describe },
        'API credentials changed; using the new ones',
      );
    return changed;
  }

  #newAgent(credentials: Credentials): Agent {
    return new Agent({
      allowH2: true,
      connections: 1,
      keepAliveTimeout: 60_000,
      connect: {
        ca: credentials.ca,
        cert: credentials.cert,
        key: credentials.key,
        servername: credentials.servername,
        rejectUnauthorized: credentials.insecureSkipTlsVerify !== true,
        keepAlive: true,
        keepAliveInitialDelay: 30_000,
      },
    });
  }
}

export function apiError(
  status: number,
  body: unknown,
  method: string,
  path: string,
  retryAfter?: string | null,
): KubernetesApiError {
  const answer = body as { reason?: string; message?: string } | undefined;
  return new KubernetesApiError(
    status,
    answer?.reason ?? 'Unknown',
    `${method} ${path}: ${status} ${answer?.message ?? ''}`.trim(),
    undefined,
    retryAfterMs(retryAfter),
  );
}

/**
 * A response body as JSON. An error answer may be plain text — API Priority and Fairness refuses with
 * `429 Too many requests, please try again later.` — and is still the server's answer, not a transport
 * failure: its text becomes the message.
 */
export function parseBody(text: string, status: number, method: string, path: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    if (status >= 400) return { message: text.trim().slice(0, 200) };
    throw transportError(err, method, path);
  }
}

/** Retry-After in ms: the delay-seconds form the apiserver sends; anything else (a date, junk) is ignored. */
export function retryAfterMs(header: string | null | undefined): number | undefined {
  if (header === undefined || header === null || !/^\s*\d{1,6}\s*$/.test(header)) return undefined;
  return Number(header) * 1000;
}

export function transportError(err: unknown, method: string, path: string): KubernetesApiError {
  const e = err as { name?: string; cause?: { code?: string }; code?: string; message?: string };
  const reason =
    e.name === 'TimeoutError'
      ? 'Timeout'
      : e.name === 'AbortError'
        ? 'Aborted'
        : (e.cause?.code ?? e.code ?? 'Network');
  return new KubernetesApiError(0, reason, `${method} ${path}: ${reason} (${e.message ?? String(err)})`, err);
}

/** A requester for the given source: our own connection, or client-node's for delegated auth. */
export async function connect(source: CredentialSource, logger?: Logger): Promise<KubeRequester> {
  if (source.kind === 'files') return new KubeConnection(source, { logger });
  const { DelegatedConnection } = await import('./delegated-connection.ts');
  return DelegatedConnection.load(source.kubeconfig);
}
