import type { FastifyInstance } from 'fastify';
import type { Clock } from '../clock.ts';
import { LeaseholdError } from '../errors.ts';
import { sessionIdPattern } from '../promise-ledger.ts';
import type { ShardSet } from '../shards/shard-set.ts';
import { errorBodySchema } from './leader-body.ts';
import { shardAnswers, shardSessionKnown, shardsBodySchema } from './shard-answers.ts';

export interface ShardRouteOptions {
  shards: ShardSet;
  namespace: string;
  clock: Clock;
  sessionlessValidityMs: number;
  resignPauseSeconds: number;
}

const shardQuery = { shard: { type: 'integer', minimum: 0 } } as const;
const sessionSchema = { type: 'string', pattern: sessionIdPattern.source } as const;

/**
 * GET /shards: every shard's holder, epoch and validity, `isLeader` meaning "this replica holds it"; each
 * "held" answer is a promise recorded in that shard's ledger, as /leader's is (to a gate session for the
 * full validity, else with the session-less cap). POST /shards/resign?shard=i hands one shard over;
 * POST /shards/activity says whether a gate session works on one shard (idle gives its promises back).
 */
export async function shardRoutes(app: FastifyInstance, options: ShardRouteOptions): Promise<void> {
  const shardsOf = (index?: number, session?: string): ShardSet => {
    const set = options.shards;
    if (index !== undefined && index >= set.shards.length) {
      throw new LeaseholdError('LEASEHOLD_NO_SUCH_SHARD', `shard ${index} of ${set.shards.length}`);
    }
    if (session !== undefined && !shardSessionKnown(set, session)) {
      throw new LeaseholdError('LEASEHOLD_SESSION_NOT_FOUND', `"${session}"`);
    }
    return set;
  };

  app.get(
    '/shards',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...shardQuery, session: sessionSchema },
        },
        response: { 200: shardsBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { shard, session } = request.query as { shard?: number; session?: string };
      const set = shardsOf(shard, session);
      reply.header('cache-control', 'no-store');
      return shardAnswers(set, options, shard, session).body;
    },
  );

  app.post(
    '/shards/activity',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['session', 'shard', 'active'],
          properties: { session: sessionSchema, ...shardQuery, active: { type: 'boolean' } },
        },
        response: { 204: { type: 'null' }, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { session, shard, active } = request.body as { session: string; shard: number; active: boolean };
      const set = shardsOf(shard, session);
      (set.shards[shard] as ShardSet['shards'][number]).ledger.report(session, active);
      reply.code(204);
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
