// The docs are part of the public surface: they must say what the code does.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
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
    snapshot: () => ({ validForMs: 0 }) as never,
  });
  const names = (await metrics.registry.getMetricsAsJSON())
    .map((m) => m.name)
    .filter((n) => n.startsWith('leasehold_') || n.startsWith('leader_election'));
  assert.ok(names.length >= 8);
  for (const name of names) assert.match(text, new RegExp(name), name);
});
