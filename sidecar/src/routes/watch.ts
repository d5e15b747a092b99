import type { FastifyInstance } from 'fastify';
import type { AppSessions } from '../app-sessions.ts';
import type { ElectionSnapshot } from '../elector.ts';
import { LeaseholdError } from '../errors.ts';
import type { LeaderSource } from '../leader-source.ts';
import { leaderBody } from './leader-body.ts';

export interface WatchRouteOptions {
  source: LeaderSource;
  sessions: AppSessions;
  lease: string;
  heartbeatMs: number;
  maxWatchers: number;
  /** Live count of open streams, for /metrics and leak tests. */
  stats: { openWatchers: number };
}

/**
 * GET /leader/watch: Server-Sent Events. `hello` first (with a gate session id when `gate=true`), then a
 * `leader` event for the current state and on every change, and a comment as heartbeat. Everything a
 * stream holds is released when the client goes away.
 */
export async function watchRoute(app: FastifyInstance, options: WatchRouteOptions): Promise<void> {
  const { source, sessions, lease } = options;

  app.get(
    '/leader/watch',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            gate: { type: 'boolean', default: false },
            heartbeatMs: { type: 'integer', minimum: 100, maximum: 60_000 },
          },
        },
      },
    },
    (request, reply) => {
      if (options.stats.openWatchers >= options.maxWatchers)
        throw new LeaseholdError('LEASEHOLD_TOO_MANY_WATCHERS', `limit ${options.maxWatchers}`);
      const { gate, heartbeatMs = options.heartbeatMs } = request.query as {
        gate: boolean;
        heartbeatMs?: number;
      };
      options.stats.openWatchers++;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const session = gate ? sessions.open() : null;
      const send = (event: string, data: unknown, id?: number): void => {
        res.write(
          `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
        );
      };
      const onChange = (snapshot: ElectionSnapshot): void =>
        send('leader', leaderBody(snapshot, lease), snapshot.version);
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
      heartbeat.unref();
      let closed = false;
      const cleanup = (): void => {
        if (closed) return;
        closed = true;
        options.stats.openWatchers--;
        clearInterval(heartbeat);
        source.off('change', onChange);
        if (session) sessions.close(session);
      };
      res.on('close', cleanup);
      res.on('error', cleanup);
      source.on('change', onChange);
      send('hello', { session, heartbeatMs });
      onChange(source.snapshot());
    },
  );
}
