// The /leader answer is defined once, by the sidecar's response schema. The gate's own type for it is
// checked against that schema when the project is type-checked (npm test runs tsc first), and a real
// answer carries exactly the schema's fields.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { buildApp, type ElectionSnapshot, type LeaderBody, leaderBodySchema } from '@leasehold/sidecar';
import { Registry } from 'prom-client';
import type { LeaderAnswer } from '../src/index.ts';

type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Flat<T> = { [K in keyof T]: T[K] };
// A compile error here means the gate's LeaderAnswer drifted from the sidecar's schema.
const gateTypeIsTheSchema: Exactly<Flat<LeaderBody>, LeaderAnswer> = true;

test('the gate reads exactly the fields the sidecar answers with', async (t) => {
  assert.equal(gateTypeIsTheSchema, true);
  const snapshot: ElectionSnapshot = {
    role: 'leader',
    identity: 'me_1',
    holder: 'me_1',
    isLeader: true,
    epoch: 3,
    validForMs: 900,
    leaseDurationSeconds: 15,
    observedAt: null,
    known: true,
    version: 4,
  };
  const source = Object.assign(new EventEmitter(), {
    snapshot: () => snapshot,
    isLeader: () => true,
    resign: async () => {},
  });
  const { app } = await buildApp({ source, registry: new Registry(), lease: 'ns/l' });
  t.after(() => app.close());
  const answer = (await app.inject('/leader')).json() as LeaderAnswer;
  assert.deepEqual(Object.keys(answer).sort(), Object.keys(leaderBodySchema.properties).sort());
  assert.deepEqual([...leaderBodySchema.required].sort(), Object.keys(leaderBodySchema.properties).sort());
});
