// The bundle's route schemas are compiled at build time (scripts/precompile-routes.ts). An app on the
// precompiled code must answer every request exactly as one that compiles its schemas as it starts, and a
// schema the build did not compile must stop the app from starting, naming the route.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { InjectOptions } from 'fastify';
import { Registry } from 'prom-client';
import { precompileRoutes, precompileShardSet } from '../scripts/precompile-routes.ts';
import { buildApp } from '../src/app.ts';
import { SingleReplicaLeader } from '../src/leader-source.ts';
import { type PrecompiledRoutes, precompiledCompilers } from '../src/route-compilers.ts';

let dir: string;
after(() => rm(dir, { recursive: true, force: true }));

const requests: InjectOptions[] = [
  { method: 'GET', url: '/leader' },
  { method: 'HEAD', url: '/leader' },
  { method: 'GET', url: '/leader?bogus=1' },
  { method: 'GET', url: '/leader?timeoutSeconds=-1' },
  { method: 'GET', url: '/leader?afterVersion=abc' },
  { method: 'GET', url: '/leader?session=not%20valid' },
  { method: 'GET', url: '/is-leader?timeoutSeconds=0' },
  { method: 'GET', url: '/leader/watch?bogus=1' },
  { method: 'POST', url: '/leader/activity', payload: { session: 'abc' } },
  { method: 'POST', url: '/leader/activity', payload: { session: 'abc', active: true } },
  { method: 'POST', url: '/leader/resign?pauseSeconds=-1' },
  { method: 'GET', url: '/healthz' },
  { method: 'GET', url: '/readyz' },
];

test('an app on the precompiled route code answers every request as one compiling its schemas at start', async () => {
  // Inside the package, so that the generated code resolves fast-json-stringify as the bundle does.
  dir = await mkdtemp(fileURLToPath(new URL('../.generated-test-', import.meta.url)));
  const counts = await precompileRoutes(dir);
  assert.ok(counts.validators >= 8 && counts.serializers >= 20, JSON.stringify(counts));
  const { precompiledRoutes } = createRequire(import.meta.url)(join(dir, 'precompiled-routes.cjs')) as {
    precompiledRoutes: PrecompiledRoutes;
  };
  const source = new SingleReplicaLeader('pod-a', 15);
  const common = { source, registry: new Registry(), lease: 'ns/ctl' };
  const compiling = (await buildApp(common)).app;
  const precompiled = (await buildApp({ ...common, compilers: precompiledCompilers(precompiledRoutes) })).app;
  for (const request of requests) {
    const [expected, actual] = await Promise.all([compiling.inject(request), precompiled.inject(request)]);
    const what = `${request.method} ${String(request.url)}`;
    assert.equal(actual.statusCode, expected.statusCode, what);
    assert.equal(actual.headers['content-type'], expected.headers['content-type'], what);
    assert.deepEqual(strip(actual.body), strip(expected.body), what);
  }
  await Promise.all([compiling.close(), precompiled.close()]);
  // A sharded app serves the shard routes, and answers the single-Lease ones with 409.
  const sharded = { ...common, shards: precompileShardSet() };
  const shardCompiling = (await buildApp(sharded)).app;
  const shardPrecompiled = (
    await buildApp({ ...sharded, compilers: precompiledCompilers(precompiledRoutes) })
  ).app;
  for (const request of shardRequests) {
    const [expected, actual] = await Promise.all([
      shardCompiling.inject(request),
      shardPrecompiled.inject(request),
    ]);
    const what = `sharded ${request.method} ${String(request.url)}`;
    assert.equal(actual.statusCode, expected.statusCode, what);
    assert.deepEqual(strip(actual.body), strip(expected.body), what);
  }
  assert.equal((await shardPrecompiled.inject({ method: 'GET', url: '/leader' })).statusCode, 409);
  await Promise.all([shardCompiling.close(), shardPrecompiled.close()]);
});

const shardRequests: InjectOptions[] = [
  { method: 'GET', url: '/shards' },
  { method: 'GET', url: '/shards?shard=1' },
  { method: 'GET', url: '/shards?shard=9' },
  { method: 'GET', url: '/shards?bogus=1' },
  { method: 'POST', url: '/shards/resign' },
  { method: 'POST', url: '/shards/resign?shard=0&pauseSeconds=-1' },
  { method: 'GET', url: '/shards/watch?heartbeatMs=1' },
  { method: 'GET', url: '/leader' },
  { method: 'POST', url: '/leader/resign' },
  { method: 'GET', url: '/readyz' },
];

/** The body without the figures that move between two calls (remaining validity). */
function strip(body: string): unknown {
  if (body === '') return body;
  const parsed = JSON.parse(body) as Record<string, unknown>;
  delete parsed.validForMs;
  return parsed;
}

test('a route schema the build did not compile stops the app from starting, naming the route', async () => {
  const source = new SingleReplicaLeader('pod-a', 15);
  const { app } = await buildApp({
    source,
    registry: new Registry(),
    lease: 'ns/ctl',
    compilers: precompiledCompilers({ validators: {}, serializers: {} }),
  });
  await assert.rejects(async () => {
    await app.ready();
  }, /no precompiled serializer for "GET \/healthz 200": build the sidecar again/);
});
