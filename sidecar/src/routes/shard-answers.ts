import type { Clock } from '../clock.ts';
import type { ShardSet } from '../shards/shard-set.ts';
import { answer } from './answers.ts';
import { type LeaderBody, leaderBodySchema } from './leader-body.ts';

export interface ShardAnswering {
  namespace: string;
  clock: Clock;
  sessionlessValidityMs: number;
}

export type ShardItem = LeaderBody & { shard: number };

export interface ShardsBody {
  identity: string;
  count: number;
  live: string[];
  fairMin: number;
  fairMax: number;
  mine: number[];
  shards: ShardItem[];
}

export const shardItemSchema = {
  type: 'object',
  required: ['shard', ...leaderBodySchema.required],
  properties: { shard: { type: 'integer' }, ...leaderBodySchema.properties },
} as const;

export const shardsBodySchema = {
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

/** Whether every shard's ledger knows gate session `id` (a session is opened in all of them at once). */
export function shardSessionKnown(set: ShardSet, id: string): boolean {
  return set.shards.every((s) => s.ledger.has(id));
}

/**
 * Every shard's answer (or only `only`'s), each "held" one a promise entered in that shard's ledger in
 * the instant it is computed: to `session` for the shard's full validity (kept until the session reports
 * that shard idle), else with the session-less cap. `deadlines[i]` is when item i's promise ends.
 */
export function shardAnswers(
  set: ShardSet,
  options: ShardAnswering,
  only?: number,
  session?: string,
): { body: ShardsBody; deadlines: number[] } {
  const plan = set.plan();
  const deadlines: number[] = [];
  const items: ShardItem[] = [];
  for (const s of set.shards) {
    if (only !== undefined && s.index !== only) continue;
    const context = {
      source: s.elector,
      ledger: s.ledger,
      clock: options.clock,
      lease: `${options.namespace}/${s.leaseName}`,
      sessionlessValidityMs: options.sessionlessValidityMs,
    };
    const { body, deadline } = answer(context, session);
    items.push({ shard: s.index, ...body });
    deadlines.push(deadline);
  }
  const body = {
    identity: set.identity,
    count: set.shards.length,
    live: plan?.live ?? [],
    fairMin: plan?.fairMin ?? 0,
    fairMax: plan?.fairMax ?? 0,
    mine: items.filter((item) => item.isLeader).map((item) => item.shard),
    shards: items,
  };
  return { body, deadlines };
}
