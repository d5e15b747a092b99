// The docs are part of the public surface: they must say what the code does.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { chartSettingsDrift, withYamlValues } from '../scripts/chart-settings.ts';
import { renderConfigurationDoc } from '../scripts/config-docs.ts';
import { errorCatalogue } from '../src/errors.ts';
import { createMetrics } from '../src/metrics.ts';

const doc = (name: string) => readFile(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

test('docs/configuration.md is the rendering of the option table', async () => {
  assert.equal(
    await doc('configuration.md'),
    renderConfigurationDoc(),
    'run: node sidecar/scripts/config-docs.ts > docs/configuration.md',
  );
});

test('docs/errors.md documents every error code', async () => {
  const text = await doc('errors.md');
  for (const code of Object.keys(errorCatalogue)) assert.match(text, new RegExp(`\`${code}\``), code);
});

test('docs/api.md documents every metric series', async () => {
  const text = await doc('api.md');
  const metrics = createMetrics({
    leaseName: 'x',
    now: () => 0,
    validForMs: () => 0,
  });
  const names = (await metrics.registry.getMetricsAsJSON())
    .map((m) => m.name)
    .filter((n) => n.startsWith('leasehold_') || n.startsWith('leader_election'));
  assert.ok(names.length >= 8);
  for (const name of names) assert.match(text, new RegExp(name), name);
});

test('the charts carry the option table: defaults in both charts, bounds, enums and descriptions in the schema', async () => {
  assert.deepEqual(await chartSettingsDrift(), [], 'run: node sidecar/scripts/chart-settings.ts');
});

test('the chart settings generator rewrites a drifted default in its block, and only there', () => {
  const values = [
    'other:',
    '  port: 1',
    'sidecar:',
    '  election:',
    '    leaseDurationSeconds: 99',
    '    renewDeadlineSeconds: 10',
    '    retryPeriodSeconds: 2',
    '    safetyMarginSeconds: 2',
    '  port: 4040',
    '  probePort: 1',
    '  sessionlessValiditySeconds: 0.5',
    '  shards: 0',
    '  resignPauseSeconds: 3',
    '  emitEvents: false',
    '  podRoleLabel: false',
    '  appHealthUrl: x',
    '  appUnhealthySeconds: 10',
    '  logLevel: debug',
  ].join('\n');
  const out = withYamlValues(values, 'sidecar:', 2, 'values.yaml').split('\n');
  assert.equal(out[1], '  port: 1', 'another block is left alone');
  assert.equal(out[4], '    leaseDurationSeconds: 15');
  assert.equal(out[9], '  probePort: 4041', "the chart's own default where it differs");
  assert.equal(out[13], '  emitEvents: true');
  assert.equal(out[15], '  appHealthUrl: ""');
  assert.equal(out[17], '  logLevel: info');
  assert.throws(
    () => withYamlValues('sidecar:\n  port: 1\nnext:\n  election:\n', 'sidecar:', 2, 'v.yaml'),
    /no election/,
  );
});
