import type { FastifyInstance } from 'fastify';
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
 * "held" answer may be acted on, in ms after the client sent the request that opened the stream; those
 * are session-less promises, kept by that shard's ledger.
 */
export async function shardsWatchRoute(app: FastifyInstance, options: ShardsWatchOptions): Promise<void> {
  app.get(
    '/shards/watch',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { heartbeatMs: { type: 'integer', minimum: 100, maximum: 60_000 } },
        },
      },
    },
    (request, reply) => {
      // The stream's clock starts no earlier than the client's: deadlines counted from here are safe.
      const openedAt = options.clock.now();
      const set = options.shards;
      const heartbeatMs = (request.query as { heartbeatMs?: number }).heartbeatMs ?? options.heartbeatMs;
      const onChange = (): void => {
        const { body, deadlines } = shardAnswers(set, options);
        const shards = body.shards.map((item, i) => ({
          ...item,
          streamDeadlineMs: item.validForMs > 0 ? Math.floor((deadlines[i] as number) - openedAt) : 0,
        }));
        stream.send('shards', { ...body, shards });
      };
      const stream = openEventStream(reply, options, heartbeatMs, () => set.off('change', onChange));
      set.on('change', onChange);
      stream.send('hello', { session: null, heartbeatMs });
      onChange();
    },
  );
}
