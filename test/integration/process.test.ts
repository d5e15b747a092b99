// The sidecar as a process: invalid configuration and missing RBAC give clear answers.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createNamespace,
  createServiceAccount,
  serviceAccountKubeconfig,
  sidecarRules,
} from '../support/cluster.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { SidecarProcess, sidecarNodeFlags, waitUntil } from '../support/sidecar.ts';

const sidecarBin = fileURLToPath(new URL('../../sidecar/bin/leasehold-sidecar.js', import.meta.url));
const exampleControllerBin = fileURLToPath(
  new URL('../../controller/example/bin/example-controller.js', import.meta.url),
);
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

test('a kubeconfig that names no current cluster: LEASEHOLD_KUBECONFIG on one line, exit 1, no stack trace', async () => {
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const kubeconfig = join(tmpdir(), `no-cluster-${process.pid}.kubeconfig`);
  await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  const result = await promisify(execFile)(process.execPath, [sidecarBin], {
    env: {
      PATH: process.env.PATH ?? '',
      LEASE_NAME: 'x',
      POD_NAMESPACE: 'y',
      KUBECONFIG: kubeconfig,
      LOG_FORMAT: 'json',
    },
  }).then(
    () => assert.fail('the sidecar started without a cluster'),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  assert.equal(result.code, 1);
  const fatal = `${result.stdout}${result.stderr}`
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => line.level === 60);
  assert.equal(fatal?.code, 'LEASEHOLD_KUBECONFIG');
  assert.match(String(fatal?.msg), /names no current cluster/);
  assert.equal(fatal?.err, undefined, 'no error object with a stack');
});

test('the probe listener (PROBE_PORT) serves /healthz, /readyz and /metrics, and nothing of the leader API', async () => {
  await createServiceAccount(namespace, 'probed', sidecarRules('probed'));
  const kubeconfig = await serviceAccountKubeconfig(namespace, 'probed');
  const { freePort } = await import('../cluster/ports.ts');
  const probePort = await freePort();
  const sidecar = await SidecarProcess.start({
    namespace,
    leaseName: 'probed',
    podName: 'probed-0',
    kubeconfig,
    env: { PROBE_PORT: String(probePort), PROBE_LISTEN_ADDRESS: '127.0.0.1' },
  });
  started.push(sidecar);
  await waitUntil(
    'the sidecar to lead',
    async () => ((await sidecar.leader()).isLeader ? true : undefined),
    10_000,
  );
  const probes = `http://127.0.0.1:${probePort}`;
  assert.equal((await fetch(`${probes}/healthz`)).status, 200);
  assert.equal((await fetch(`${probes}/readyz`)).status, 200);
  assert.match(await (await fetch(`${probes}/metrics`)).text(), /^leasehold_is_leader 1$/m);
  assert.equal((await fetch(`${probes}/leader`)).status, 404);
  assert.equal((await fetch(`${probes}/leader/resign`, { method: 'POST' })).status, 404);
  assert.equal((await sidecar.leader()).isLeader, true, 'still leading: the probe port cannot resign it');
});

function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Starts `args` as PID 1 of a new PID namespace (as a container's first process is), where the kernel
 * drops a signal the process has no handler for, and sends it SIGTERM every 5 ms from the start until it
 * exits. Returns its exit code.
 */
async function terminatedWhileStarting(args: string[], env: Record<string, string>): Promise<number | null> {
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--', process.execPath, ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_FORMAT: 'json', ...env },
    stdio: 'ignore',
  });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  let done = false;
  void exited.finally(() => {
    done = true;
  });
  const deadline = performance.now() + 20_000;
  while (!done && performance.now() < deadline) {
    const children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
    const pid = Number(children.trim().split(' ')[0]);
    // It may exit between the read and the kill: a process already gone is not an error here.
    if (pid) signalIfAlive(pid, 'SIGTERM');
    await sleep(5);
  }
  if (!done) child.kill('SIGKILL');
  const [code] = await exited;
  return code;
}

test('as PID 1 (as in a pod), SIGTERM while the sidecar loads is caught, not dropped: exit 0, the Lease never touched', async () => {
  await createServiceAccount(namespace, 'pid-one', sidecarRules('pid-one'));
  const kubeconfig = await serviceAccountKubeconfig(namespace, 'pid-one');
  const { freePort } = await import('../cluster/ports.ts');
  const code = await terminatedWhileStarting([...sidecarNodeFlags, sidecarBin], {
    LEASE_NAME: 'pid-one',
    POD_NAMESPACE: namespace,
    POD_NAME: 'pid-one-0',
    KUBECONFIG: kubeconfig,
    PORT: String(await freePort()),
  });
  assert.equal(code, 0, 'a clean exit');
  // Dropped signals would have let it start and campaign; the first one caught stops it before that.
  const { status } = await rawApi('GET', leasePath(namespace, 'pid-one'));
  assert.equal(status, 404, 'no Lease was created');
});

test('as PID 1, SIGTERM while the example controller loads is caught, not dropped: exit 0, the sidecar never asked', async (t) => {
  let connections = 0;
  const server = createServer((_req, res) => res.end());
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const code = await terminatedWhileStarting([exampleControllerBin], {
    LEASEHOLD_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    POD_NAMESPACE: namespace,
    POD_NAME: 'pid-one-app',
    KUBECONFIG: await serviceAccountKubeconfig(namespace, 'pid-one'),
  });
  assert.equal(code, 0, 'a clean exit');
  assert.equal(connections, 0, 'stopped before it ever contacted the sidecar');
});
