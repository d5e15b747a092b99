// One shard limit everywhere a user can set a shard count: the gate library, the sidecar, both charts.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { createShardGate, maxShards, shardOf } from '@leasehold/controller';
import { optionSpecs } from '../../sidecar/src/config-schema.ts';

const chartFile = (path: string) => readFile(new URL(`../../chart/${path}`, import.meta.url), 'utf8');

test('the gate, the sidecar and the charts allow the same number of shards', async () => {
  const sidecar = optionSpecs.find((s) => s.key === 'shards');
  assert.equal(sidecar?.max, maxShards, "the sidecar's SHARDS");
  const schema = JSON.parse(await chartFile('leasehold/values.schema.json'));
  assert.equal(
    schema.properties.sidecar.properties.shards.maximum,
    maxShards,
    "the app chart's sidecar.shards",
  );
  for (const file of ['leasehold/values.yaml', 'leasehold-lib/values.yaml'])
    assert.match(
      await chartFile(file),
      new RegExp(`\\(at most\\s+(#\\s+)?${maxShards}\\)`),
      `${file} says the limit`,
    );
  assert.equal(shardOf('a/b', maxShards) < maxShards, true);
  assert.throws(() => shardOf('a/b', maxShards + 1), /shards must be an integer 1…64, got 65/);
  assert.throws(
    () => createShardGate({ shards: maxShards + 1 }),
    /LEASEHOLD_GATE_INVALID_OPTION|shards must be/,
  );
});
