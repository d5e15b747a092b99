import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { LeaseholdError } from '../src/errors.ts';

const base = { LEASE_NAME: 'my-controller', POD_NAMESPACE: 'team-a', POD_NAME: 'pod-1' };
const load = (env: Record<string, string>, argv: string[] = []) =>
  loadConfig({ env, argv, serviceAccountNamespaceFile: '/nonexistent', randomSuffix: 'abc123' });

function problems(env: Record<string, string>, argv: string[] = []): string[] {
  try {
    load(env, argv);
  } catch (err) {
    assert.ok(err instanceof LeaseholdError);
    assert.equal(err.code, 'LEASEHOLD_CONFIG_INVALID');
    return err.details;
  }
  assert.fail('configuration was accepted');
}

test('defaults match client-go and 5-Spot; identity is pod name plus a per-process suffix', () => {
  const config = load(base);
  assert.equal(config.leaseDurationSeconds, 15);
  assert.equal(config.renewDeadlineSeconds, 10);
  assert.equal(config.retryPeriodSeconds, 2);
  assert.equal(config.safetyMarginSeconds, 2);
  assert.equal(config.listenAddress, '127.0.0.1');
  assert.equal(config.port, 4040);
  assert.equal(config.enableLeaderElection, true);
  assert.equal(config.identity, 'pod-1_abc123');
  assert.ok(Object.isFrozen(config));
});

test('two processes never share an identity', () => {
  const a = loadConfig({ env: base, argv: [] });
  const b = loadConfig({ env: base, argv: [] });
  assert.notEqual(a.identity, b.identity);
});

test('flags override env vars, in both --flag=value and --flag value forms', () => {
  const config = load({ ...base, PORT: '5000' }, [
    '--port',
    '6000',
    '--lease-name=from-flag',
    '--enable-leader-election=false',
  ]);
  assert.equal(config.port, 6000);
  assert.equal(config.leaseName, 'from-flag');
  assert.equal(config.enableLeaderElection, false);
});

test('every invalid field is listed at once', () => {
  const listed = problems({
    POD_NAME: 'p',
    LEASE_DURATION_SECONDS: '1.5',
    LEASE_RETRY_PERIOD_SECONDS: 'often',
    PORT: '70000',
    LOG_LEVEL: 'chatty',
    ENABLE_LEADER_ELECTION: 'maybe',
  });
  const text = listed.join('\n');
  for (const name of [
    'LEASE_NAME',
    'POD_NAMESPACE',
    'LEASE_DURATION_SECONDS',
    'LEASE_RETRY_PERIOD_SECONDS',
    'PORT',
    'LOG_LEVEL',
    'ENABLE_LEADER_ELECTION',
  ]) {
    assert.match(text, new RegExp(name));
  }
  assert.equal(listed.length, 7);
});

test('LD > RD > 1.2 x RP is enforced, as client-go does', () => {
  assert.match(
    problems({ ...base, LEASE_DURATION_SECONDS: '10', LEASE_RENEW_DEADLINE_SECONDS: '10' }).join(),
    /greater than LEASE_RENEW_DEADLINE/,
  );
  assert.match(
    problems({ ...base, LEASE_RENEW_DEADLINE_SECONDS: '2.4', LEASE_RETRY_PERIOD_SECONDS: '2' }).join(),
    /1.2 x/,
  );
  assert.equal(
    load({ ...base, LEASE_RENEW_DEADLINE_SECONDS: '2.5', LEASE_RETRY_PERIOD_SECONDS: '2' })
      .renewDeadlineSeconds,
    2.5,
  );
});

test('a validity that renewals (at most one a wall second) cannot keep up with is refused', () => {
  assert.match(
    problems({ ...base, LEASE_SAFETY_MARGIN_SECONDS: '14' }).join(),
    /validity .* = 1 s must exceed 1.2 x max/,
  );
  // RP 0.5 s satisfies client-go's RD > 1.2 RP, but 1 s of validity cannot outlast a once-a-second renewal.
  assert.match(
    problems({
      ...base,
      LEASE_DURATION_SECONDS: '4',
      LEASE_RENEW_DEADLINE_SECONDS: '1',
      LEASE_RETRY_PERIOD_SECONDS: '0.5',
    }).join(),
    /renewals come at most once a second/,
  );
  assert.equal(
    load({
      ...base,
      LEASE_DURATION_SECONDS: '4',
      LEASE_RENEW_DEADLINE_SECONDS: '1.25',
      LEASE_RETRY_PERIOD_SECONDS: '0.5',
    }).renewDeadlineSeconds,
    1.25,
  );
});

test('non-loopback listen addresses need the explicit opt-in', () => {
  assert.match(problems({ ...base, LISTEN_ADDRESS: '0.0.0.0' }).join(), /ALLOW_NON_LOOPBACK_LISTEN/);
  assert.equal(
    load({ ...base, LISTEN_ADDRESS: '0.0.0.0', ALLOW_NON_LOOPBACK_LISTEN: 'true' }).listenAddress,
    '0.0.0.0',
  );
  assert.equal(load({ ...base, LISTEN_ADDRESS: '::1' }).listenAddress, '::1');
});

test('names must be valid Kubernetes names; unknown flags are refused', () => {
  const listed = problems({ ...base, LEASE_NAME: 'Not_Valid', POD_NAMESPACE: 'UPPER' }, ['--ttl=5']);
  assert.equal(listed.length, 3);
  assert.match(listed.join(), /unknown flag "--ttl"/);
});

test('the namespace defaults to the in-cluster ServiceAccount namespace', async () => {
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'ns-'));
  await writeFile(join(dir, 'namespace'), 'from-file\n');
  const config = loadConfig({
    env: { LEASE_NAME: 'x' },
    argv: [],
    serviceAccountNamespaceFile: join(dir, 'namespace'),
    hostname: 'host-9',
  });
  assert.equal(config.namespace, 'from-file');
  assert.equal(config.podName, 'host-9');
});

test('SHARDS: 0 by default, up to 64; it needs leader election and room in the Lease name for "-<i>"', () => {
  assert.equal(load(base).shards, 0);
  assert.equal(load({ ...base, SHARDS: '8' }).shards, 8);
  assert.deepEqual(problems({ ...base, SHARDS: '65' }), [
    'SHARDS (--shards) must be between 0 and 64, got 65',
  ]);
  assert.deepEqual(problems({ ...base, SHARDS: '2', ENABLE_LEADER_ELECTION: 'false' }), [
    'SHARDS needs leader election: unset it or ENABLE_LEADER_ELECTION=false, not both',
  ]);
  const longest = 'a'.repeat(251);
  assert.equal(load({ ...base, LEASE_NAME: longest, SHARDS: '10' }).shards, 10, '"-9" still fits in 253');
  assert.deepEqual(problems({ ...base, LEASE_NAME: longest, SHARDS: '11' }), [
    `LEASE_NAME "${longest}" is too long for shard Leases named "<LEASE_NAME>-<i>"`,
  ]);
  assert.equal(load({ ...base, LEASE_NAME: longest }).shards, 0, 'not sharded: no suffix needed');
});
