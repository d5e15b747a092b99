// The one Lease write a shard set makes of its own: set or remove one annotation only if it reads as
// expected, on the in-memory Lease API (404 and 409 as the apiserver has them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeAnnotationIf } from '../src/lease/annotation-write.ts';
import { MemoryLeaseApi } from './fakes.ts';

const key = 'example.io/asked-by';
const annotations = (api: MemoryLeaseApi) =>
  (api.lease?.metadata?.annotations ?? {}) as Record<string, string>;

test('sets the annotation where it is absent, keeping the others; refuses where someone else set it', async () => {
  const api = new MemoryLeaseApi();
  api.seed(
    { holderIdentity: 'other_1' },
    { metadata: { name: 'l', namespace: 'ns', annotations: { keep: 'me' } } },
  );
  assert.equal(await writeAnnotationIf(api, key, { expected: undefined, value: 'me_1' }, 1_000), true);
  assert.deepEqual(annotations(api), { keep: 'me', [key]: 'me_1' });
  assert.equal(api.lease?.spec?.holderIdentity, 'other_1', 'the spec is untouched');
  const writes = api.writes.length;
  assert.equal(await writeAnnotationIf(api, key, { expected: undefined, value: 'you_2' }, 1_000), false);
  assert.equal(api.writes.length, writes, 'nothing written over another request');
  assert.equal(annotations(api)[key], 'me_1');
});

test('removes it only while it still reads as expected; a missing Lease is left alone', async () => {
  const api = new MemoryLeaseApi();
  api.seed(
    { holderIdentity: 'other_1' },
    { metadata: { name: 'l', namespace: 'ns', annotations: { [key]: 'you_2' } } },
  );
  assert.equal(await writeAnnotationIf(api, key, { expected: 'me_1', value: undefined }, 1_000), false);
  assert.equal(annotations(api)[key], 'you_2', "someone else's request stays");
  assert.equal(await writeAnnotationIf(api, key, { expected: 'you_2', value: undefined }, 1_000), true);
  assert.deepEqual(annotations(api), {});
  const empty = new MemoryLeaseApi();
  assert.equal(await writeAnnotationIf(empty, key, { expected: undefined, value: 'me_1' }, 1_000), false);
  assert.equal(empty.lease, undefined, 'not created');
  assert.equal(empty.writes.length, 0);
});
