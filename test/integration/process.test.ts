// The sidecar as a process: invalid configuration and missing RBAC give clear answers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createNamespace, createServiceAccount, serviceAccountKubeconfig } from '../support/cluster.ts';
import { SidecarProcess, waitUntil } from '../support/sidecar.ts';

const sidecarBin = fileURLToPath(new URL('../../sidecar/bin/leasehold-sidecar.js', import.meta.url));
let namespace: string;
const started: SidecarProcess[] = [];

before(async () => {
  namespace = await createNamespace('process');
});

after(async () => {
  await Promise.all(started.map((s) => s.stop('SIGKILL')));
});

test('invalid configuration: every problem listed, exit code 2, no stack trace', async () => {
  const result = await promisify(execFile)(
    process.execPath,
    [sidecarBin, '--lease-duration-seconds=5', '--port', 'x'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        LEASE_RENEW_DEADLINE_SECONDS: '9',
        LISTEN_ADDRESS: '10.1.2.3',
        LOG_LEVEL: 'loud',
      },
    },
  ).then(
    () => assert.fail('the sidecar accepted an invalid configuration'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(result.code, 2);
  assert.match(result.stderr, /LEASEHOLD_CONFIG_INVALID/);
  for (const field of [
    'LEASE_NAME',
    'POD_NAMESPACE',
    'PORT',
    'LEASE_DURATION_SECONDS',
    'LISTEN_ADDRESS',
    'LOG_LEVEL',
  ]) {
    assert.match(result.stderr, new RegExp(field), `${field} is named`);
  }
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
});

test('missing RBAC: not ready with LEASEHOLD_API_FORBIDDEN, never leader, clear log line', async () => {
  await createServiceAccount(namespace, 'powerless', []);
  const kubeconfig = await serviceAccountKubeconfig(namespace, 'powerless');
  const sidecar = await SidecarProcess.start({
    namespace,
    leaseName: 'forbidden',
    podName: 'forbidden-0',
    kubeconfig,
  });
  started.push(sidecar);
  const readyz = await waitUntil(
    'a 403 to surface in /readyz',
    async () => {
      const response = await fetch(`${sidecar.url}/readyz`);
      const body = (await response.json()) as { code?: string };
      return body.code ? { status: response.status, body } : undefined;
    },
    10_000,
  );
  assert.equal(readyz.status, 503);
  assert.equal(readyz.body.code, 'LEASEHOLD_API_FORBIDDEN');
  const answer = await sidecar.leader();
  assert.equal(answer.isLeader, false);
  assert.equal(answer.known, false);
  const isLeader = await fetch(`${sidecar.url}/is-leader`);
  assert.equal(isLeader.status, 503);
  assert.ok(sidecar.logLines().some((line) => String(line.msg).includes('grant get/watch/update on leases')));
});
