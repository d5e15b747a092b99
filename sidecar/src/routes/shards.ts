import type { FastifyInstance } from 'fastify';
import type { Clock } from '../clock.ts';
import { LeaseholdError } from '../errors.ts';
import type { ShardSet } from '../shards/shard-set.ts';
import { answer } from './answers.ts';
import { errorBodySchema, leaderBodySchema } from './leader-body.ts';

export interface ShardRouteOptions {
  /** Undefined when SHARDS is unset: the routes then say so (409). */
  shards: ShardSet | undefined;
  namespace: string;
  clock: Clock;
  sessionlessValidityMs: number;
  resignPauseSeconds: number;
}

const shardItemSchema = {
  type: 'object',
  required: ['shard', ...leaderBodySchema.required],
  properties: { shard: { type: 'integer' }, ...leaderBodySchema.properties },
} as const;

const shardsBodySchema = {
  type: 'object',
  required: ['identity', 'count', 'live', 'fairMin', 'fairMax', 'mine', 'shards'],
  properties: {
    identity: { type: 'string' },
    count: { type: 'integer' },
    live: { type: 'array', items: { type: 'string' } },
    fairMin: { type: 'integer' },
    fairMax: { type: 'integer' },
    mine: { type: 'array', items: { type: 'integer' } },
    shards: { type: 'array', items: shardItemSchema },
  },
} as const;

const shardQuery = { shard: { type: 'integer', minimum: 0 } } as const;

/**
 * GET /shards: every shard's holder, epoch and validity, `isLeader` meaning "this replica holds it"; each
 * "held" answer is a promise recorded in that shard's ledger, as /leader's is (session-less cap).
 * POST /shards/resign?shard=i hands one shard over.
 */
export async function shardRoutes(app: FastifyInstance, options: ShardRouteOptions): Promise<void> {
  const shardsOf = (index?: number): ShardSet => {
    const set = options.shards;
    if (!set) throw new LeaseholdError('LEASEHOLD_NOT_SHARDED');
    if (index !== undefined && index >= set.shards.length) {
      throw new LeaseholdError('LEASEHOLD_NO_SUCH_SHARD', `shard ${index} of ${set.shards.length}`);
    }
    return set;
  };

  app.get(
    '/shards',
    {
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: shardQuery },
        response: { 200: shardsBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { shard } = request.query as { shard?: number };
      const set = shardsOf(shard);
      const plan = set.plan();
      const items = set.shards
        .filter((s) => shard === undefined || s.index === shard)
        .map((s) => {
          const context = {
            source: s.elector,
            ledger: s.ledger,
            clock: options.clock,
            lease: `${options.namespace}/${s.leaseName}`,
            sessionlessValidityMs: options.sessionlessValidityMs,
          };
          return { shard: s.index, ...answer(context).body };
        });
      reply.header('cache-control', 'no-store');
      return {
        identity: set.snapshot().identity,
        count: set.shards.length,
        live: plan?.live ?? [],
        fairMin: plan?.fairMin ?? 0,
        fairMax: plan?.fairMax ?? 0,
        mine: items.filter((item) => item.isLeader).map((item) => item.shard),
        shards: items,
      };
    },
  );

  app.post(
    '/shards/resign',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['shard'],
          properties: { ...shardQuery, pauseSeconds: { type: 'number', minimum: 0, maximum: 3600 } },
        },
        response: {
          202: { type: 'object', properties: { resigned: { type: 'boolean' }, shard: { type: 'integer' } } },
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const { shard, pauseSeconds = options.resignPauseSeconds } = request.query as {
        shard: number;
        pauseSeconds?: number;
      };
      const set = shardsOf(shard);
      await (set.shards[shard] as ShardSet['shards'][number]).elector.resign(pauseSeconds * 1000);
      reply.code(202);
      return { resigned: true, shard };
    },
  );
}
