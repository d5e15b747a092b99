import type { FastifyInstance } from 'fastify';
import { LeaseholdError } from '../errors.ts';
import { sessionIdPattern } from '../promise-ledger.ts';
import { type Answering, answer } from './answers.ts';

export interface WatchRouteOptions extends Answering {
  heartbeatMs: number;
  maxWatchers: number;
  /** Live count of open streams, for /metrics and leak tests. */
  stats: { openWatchers: number };
}

/**
 * GET /leader/watch: Server-Sent Events. `hello` first (with the gate session when `gate=true`), then a
 * `leader` event for the current state and on every change, and a comment as heartbeat. Each `leader`
 * event is a promise like any answer; `streamDeadlineMs` says until when, counted from the moment the
 * client sent the request that opened the stream. Everything a stream holds is released when the client
 * goes away, except the promises it was given: those are kept until they run out.
 */
export async function watchRoute(app: FastifyInstance, options: WatchRouteOptions): Promise<void> {
  const { source, ledger, clock } = options;

  app.get(
    '/leader/watch',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            gate: { type: 'boolean', default: false },
            session: { type: 'string', pattern: sessionIdPattern.source },
            heartbeatMs: { type: 'integer', minimum: 100, maximum: 60_000 },
          },
        },
      },
    },
    (request, reply) => {
      // The stream's clock starts no earlier than the client's: deadlines counted from here are safe.
      const openedAt = clock.now();
      if (options.stats.openWatchers >= options.maxWatchers)
        throw new LeaseholdError('LEASEHOLD_TOO_MANY_WATCHERS', `limit ${options.maxWatchers}`);
      const query = request.query as { gate: boolean; session?: string; heartbeatMs?: number };
      const heartbeatMs = query.heartbeatMs ?? options.heartbeatMs;
      const session = query.gate || query.session !== undefined ? ledger.attach(query.session) : undefined;
      options.stats.openWatchers++;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (event: string, data: unknown, id?: number): void => {
        res.write(
          `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
        );
      };
      const onChange = (): void => {
        const { body, deadline } = answer(options, session);
        const streamDeadlineMs = body.validForMs > 0 ? Math.floor(deadline - openedAt) : 0;
        send('leader', { ...body, streamDeadlineMs }, body.version);
      };
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
      heartbeat.unref();
      let closed = false;
      const cleanup = (): void => {
        if (closed) return;
        closed = true;
        options.stats.openWatchers--;
        clearInterval(heartbeat);
        source.off('change', onChange);
        if (session) ledger.detach(session);
      };
      res.on('close', cleanup);
      res.on('error', cleanup);
      source.on('change', onChange);
      send('hello', { session: session ?? null, heartbeatMs });
      onChange();
    },
  );
}
