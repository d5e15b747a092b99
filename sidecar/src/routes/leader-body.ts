import type { ElectionSnapshot } from '../election-state.ts';
import { podNameOf } from '../lease/record.ts';
import type { FromSchema } from '../schema-type.ts';

/** The JSON every leader route answers with (docs/api.md): the schema below is its one definition. */
export type LeaderBody = FromSchema<typeof leaderBodySchema>;

export function leaderBody(snapshot: ElectionSnapshot, lease: string): LeaderBody {
  return {
    name: snapshot.holder === '' ? '' : podNameOf(snapshot.holder),
    holder: snapshot.holder,
    identity: snapshot.identity,
    isLeader: snapshot.isLeader,
    epoch: snapshot.epoch,
    validForMs: snapshot.validForMs,
    leaseDurationSeconds: snapshot.leaseDurationSeconds,
    observedAt: snapshot.observedAt,
    role: snapshot.role,
    known: snapshot.known,
    version: snapshot.version,
    lease,
  };
}

export const leaderBodySchema = {
  type: 'object',
  required: [
    'name',
    'holder',
    'identity',
    'isLeader',
    'epoch',
    'validForMs',
    'leaseDurationSeconds',
    'observedAt',
    'role',
    'known',
    'version',
    'lease',
  ],
  properties: {
    name: { type: 'string' },
    holder: { type: 'string' },
    identity: { type: 'string' },
    isLeader: { type: 'boolean' },
    epoch: { type: ['integer', 'null'] },
    validForMs: { type: 'integer' },
    leaseDurationSeconds: { type: 'integer' },
    observedAt: { type: ['string', 'null'] },
    role: { type: 'string' },
    known: { type: 'boolean' },
    version: { type: 'integer' },
    lease: { type: 'string' },
  },
} as const;

export const errorBodySchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    details: { type: 'array', items: { type: 'string' } },
  },
} as const;
