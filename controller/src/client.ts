import { Pool } from 'undici';
import { GateError } from './errors.ts';

/** The sidecar's /leader answer (docs/api.md). */
export interface LeaderAnswer {
  name: string;
  holder: string;
  identity: string;
  isLeader: boolean;
  epoch: number | null;
  validForMs: number;
  leaseDurationSeconds: number;
  observedAt: string | null;
  role: string;
  known: boolean;
  version: number;
  lease: string;
}

/** One shard in the sidecar's /shards answer: a LeaderAnswer with its shard number. */
export interface ShardAnswer extends LeaderAnswer {
  shard: number;
}

/** The sidecar's /shards answer (docs/api.md). */
export interface ShardsAnswer {
  identity: string;
  count: number;
  live: string[];
  fairMin: number;
  fairMax: number;
  mine: number[];
  shards: ShardAnswer[];
}

export interface StreamEvent {
  event: string;
  data: unknown;
}

/** A keep-alive HTTP client for one sidecar on localhost. */
export class SidecarClient {
  readonly #pool: Pool;
  readonly #timeoutMs: number;

  constructor(url: string, timeoutMs: number) {
    this.#pool = new Pool(url, { connections: 4, keepAliveTimeout: 30_000, pipelining: 1 });
    this.#timeoutMs = timeoutMs;
  }

  /** GET /leader, as `session` when given (its promise is then kept until the session gives it back). */
  async leader(session?: string): Promise<LeaderAnswer> {
    const body = await this.#json(
      'GET',
      session ? `/leader?session=${encodeURIComponent(session)}` : '/leader',
    );
    const answer = body as Partial<LeaderAnswer>;
    if (typeof answer.isLeader !== 'boolean' || typeof answer.validForMs !== 'number') {
      throw new GateError('LEASEHOLD_GATE_BAD_RESPONSE', JSON.stringify(body).slice(0, 200));
    }
    return answer as LeaderAnswer;
  }

  /** GET /shards: every shard's answer, each "held" one a promise (to `session` when given). */
  async shards(session?: string): Promise<ShardsAnswer> {
    const path = session ? `/shards?session=${encodeURIComponent(session)}` : '/shards';
    return checkShards(await this.#json('GET', path));
  }

  async activity(session: string, active: boolean): Promise<void> {
    await this.#json('POST', '/leader/activity', { session, active });
  }

  async shardActivity(session: string, shard: number, active: boolean): Promise<void> {
    await this.#json('POST', '/shards/activity', { session, shard, active });
  }

  /** Reads `/leader/watch?gate=true&session=…` until the signal aborts or the stream ends. */
  stream(session: string, signal: AbortSignal, onEvent: (event: StreamEvent) => void): Promise<void> {
    return this.#events(`/leader/watch?gate=true&session=${encodeURIComponent(session)}`, signal, onEvent);
  }

  /** Reads `/shards/watch?gate=true&session=…` until the signal aborts or the stream ends. */
  shardStream(session: string, signal: AbortSignal, onEvent: (event: StreamEvent) => void): Promise<void> {
    return this.#events(`/shards/watch?gate=true&session=${encodeURIComponent(session)}`, signal, onEvent);
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }

  async #events(path: string, signal: AbortSignal, onEvent: (event: StreamEvent) => void): Promise<void> {
    const response = await this.#pool
      .request({ method: 'GET', path, signal, headersTimeout: this.#timeoutMs, bodyTimeout: 0 })
      .catch((err) => {
        throw new GateError('LEASEHOLD_GATE_SIDECAR_UNREACHABLE', 'watch', { cause: err });
      });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new GateError('LEASEHOLD_GATE_BAD_RESPONSE', `watch answered ${response.statusCode}`);
    }
    response.body.setEncoding('utf8');
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += chunk as string;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) onEvent({ event, data: JSON.parse(data) });
        }
      }
    } catch (err) {
      if (!signal.aborted)
        throw new GateError('LEASEHOLD_GATE_SIDECAR_UNREACHABLE', 'watch broke', { cause: err });
    }
  }

  async #json(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    try {
      const response = await this.#pool.request({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await response.body.text();
      if (response.statusCode === 404 && text.includes('LEASEHOLD_SESSION_NOT_FOUND')) {
        throw new GateError('LEASEHOLD_GATE_SESSION_UNKNOWN', `${method} ${path}`);
      }
      if (response.statusCode >= 300) {
        throw new GateError(
          'LEASEHOLD_GATE_BAD_RESPONSE',
          `${method} ${path} answered ${response.statusCode} ${text.slice(0, 200)}`,
        );
      }
      return text === '' ? undefined : JSON.parse(text);
    } catch (err) {
      if (err instanceof GateError) throw err;
      throw new GateError('LEASEHOLD_GATE_SIDECAR_UNREACHABLE', `${method} ${path}`, { cause: err });
    }
  }
}

/** A /shards answer (or `shards` event) as the gate relies on it: every shard, in order, with its answer. */
export function checkShards(value: unknown): ShardsAnswer {
  const body = value as Partial<ShardsAnswer>;
  const valid =
    Number.isInteger(body.count) &&
    Array.isArray(body.shards) &&
    body.shards.length === body.count &&
    body.shards.every(
      (s, i) => s.shard === i && typeof s.isLeader === 'boolean' && typeof s.validForMs === 'number',
    );
  if (!valid) throw new GateError('LEASEHOLD_GATE_BAD_RESPONSE', JSON.stringify(body).slice(0, 200));
  return body as ShardsAnswer;
}
