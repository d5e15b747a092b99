import type { FastifyInstance } from 'fastify';
import { sessionIdPattern } from '../promise-ledger.ts';
import type { ShardSet } from '../shards/shard-set.ts';
import { type EventStreamLimits, openEventStream } from './event-stream.ts';
import { type ShardAnswering, shardAnswers } from './shard-answers.ts';

export interface ShardsWatchOptions extends ShardAnswering, EventStreamLimits {
  shards: ShardSet;
  heartbeatMs: number;
}

/**
 * GET /shards/watch: Server-Sent Events for a sharded sidecar. `hello`, then a `shards` event (the body
 * of GET /shards) now and whenever any shard changes. Each shard's `streamDeadlineMs` says until when its
 * "held" answer may be acted on, in ms after the client sent the request that opened the stream, kept by
 * that shard's ledger. With `gate=true` (or `session=<id>`) the stream opens a gate session in every
 * shard's ledger: its promises last the shard's full validity, until the session reports the shard idle.
 */
export async function shardsWatchRoute(app: FastifyInstance, options: ShardsWatchOptions): Promise<void> {
  app.get(
    '/shards/watch',
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
      const openedAt = options.clock.now();
      const set = options.shards;
      const query = request.query as { gate: boolean; session?: string; heartbeatMs?: number };
      const heartbeatMs = query.heartbeatMs ?? options.heartbeatMs;
      let session: string | undefined;
      const onChange = (): void => {
        const { body, deadlines } = shardAnswers(set, options, undefined, session);
        const shards = body.shards.map((item, i) => ({
          ...item,
          streamDeadlineMs: item.validForMs > 0 ? Math.floor((deadlines[i] as number) - openedAt) : 0,
        }));
        stream.send('shards', { ...body, shards });
      };
      const stream = openEventStream(reply, options, heartbeatMs, () => {
        set.off('change', onChange);
        if (session !== undefined) for (const shard of set.shards) shard.ledger.detach(session);
      });
      // Opened once the stream is (a refused stream holds nothing), with one id in every shard's ledger.
      if (query.gate || query.session !== undefined) {
        const [first, ...rest] = set.shards;
        session = first?.ledger.attach(query.session);
        for (const shard of rest) shard.ledger.attach(session);
      }
      set.on('change', onChange);
      stream.send('hello', { session: session ?? null, heartbeatMs });
      onChange();
    },
  );
}
