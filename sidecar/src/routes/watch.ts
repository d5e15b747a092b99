import type { FastifyInstance } from 'fastify';
import { sessionIdPattern } from '../promise-ledger.ts';
import { type Answering, answer } from './answers.ts';
import { openEventStream } from './event-stream.ts';

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
      const query = request.query as { gate: boolean; session?: string; heartbeatMs?: number };
      const heartbeatMs = query.heartbeatMs ?? options.heartbeatMs;
      let session: string | undefined;
      const onChange = (): void => {
        const { body, deadline } = answer(options, session);
        const streamDeadlineMs = body.validForMs > 0 ? Math.floor(deadline - openedAt) : 0;
        stream.send('leader', { ...body, streamDeadlineMs }, body.version);
      };
      const stream = openEventStream(reply, options, heartbeatMs, () => {
        source.off('change', onChange);
        if (session) ledger.detach(session);
      });
      // Attached once the stream is open (a refused stream holds nothing).
      if (query.gate || query.session !== undefined) session = ledger.attach(query.session);
      source.on('change', onChange);
      stream.send('hello', { session: session ?? null, heartbeatMs });
      onChange();
    },
  );
}
