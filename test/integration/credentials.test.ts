// The sidecar's connection to the real apiserver: one kept-alive connection carries the watch and every
// write; credentials that rotate under a running leader (a token file, a client certificate) are picked
// up without losing leadership.
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderKubeconfig } from '../cluster/kubeconfig.ts';
import { CertificateAuthority } from '../cluster/pki.ts';
import { createNamespace, createServiceAccount, sidecarRules, testCluster } from '../support/cluster.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import { connectionsTo } from '../support/proc-sockets.ts';
import { rawApi } from '../support/raw-api.ts';
import { SidecarProcess, testTimings, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
let namespace: string;
const started: SidecarProcess[] = [];

before(async () => {
  namespace = await createNamespace('credentials');
});

after(async () => {
  await Promise.all(started.map((s) => s.stop('SIGKILL')));
});

/** Writes `text` to `path` the way the kubelet updates projected files: a new file renamed over the old. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text, { mode: 0o600 });
  await rename(`${path}.new`, path);
}

async function leadWith(kubeconfig: string, leaseName: string): Promise<SidecarProcess> {
  const sidecar = await SidecarProcess.start({ namespace, leaseName, podName: `${leaseName}-0`, kubeconfig });
  started.push(sidecar);
  await waitUntil(
    'the sidecar to lead',
    async () => ((await sidecar.leader()).isLeader ? true : undefined),
    leaseDurationMs * 2,
  );
  return sidecar;
}

/**
 * Waits for the sidecar to take up new credentials (the apiserver may accept the old ones for a while:
 * it caches token authentication for 10 s), then checks it kept leading throughout and renewed since.
 */
async function keptLeading(
  sidecar: SidecarProcess,
  leaseName: string,
  fromLine: number,
  changed: (line: Record<string, unknown>) => boolean,
) {
  const line = await waitUntil(
    'the sidecar to use the rotated credentials',
    async () => sidecar.logLines().slice(fromLine).find(changed),
    20_000,
    100,
  );
  const since = performance.now();
  const recorder = new LeaseRecorder(namespace, leaseName);
  try {
    const identity = (await sidecar.leader()).identity;
    await recorder.waitFor((e) => e.holderIdentity === identity && e.at > since, leaseDurationMs * 2);
  } finally {
    await recorder.stop();
  }
  const lines = sidecar.logLines().slice(fromLine);
  assert.deepEqual(
    lines.filter((l) => l.transition === 'demoted'),
    [],
    'it never stopped leading',
  );
  assert.equal((await sidecar.leader()).isLeader, true);
  return line;
}

test('one kept-alive connection carries the watch and every renewal', async () => {
  const { info } = testCluster();
  await createServiceAccount(namespace, 'one-connection', sidecarRules('one-connection'));
  const token = await rawApi('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/one-connection/token`, {
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kubeconfig = join(info.dir, `${namespace}-one-connection.kubeconfig`);
  await writeFile(
    kubeconfig,
    renderKubeconfig({ server: info.server, caPem: info.caPem, user: 'sa', token: token.body.status.token }),
  );
  const sidecar = await leadWith(kubeconfig, 'one-connection');
  const counts: number[] = [];
  for (let i = 0; i < 8; i++) {
    counts.push(await connectionsTo(sidecar.child.pid as number, info.apiserverPort));
    await sleep(testTimings.retryPeriodSeconds * 1000);
  }
  assert.deepEqual(
    counts,
    counts.map(() => 1),
    `connections to the apiserver over ${counts.length} renewals`,
  );
});

test('a rotated token file is read again when the old token is refused: the leader keeps leading', async () => {
  const { info } = testCluster();
  await createServiceAccount(namespace, 'rotating-token', sidecarRules('rotating-token'));
  // Tokens bound to a Secret die with it: deleting the Secret revokes the first token mid-term.
  const boundToken = async (secret: string) => {
    const created = await rawApi('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      body: { metadata: { name: secret } },
    });
    const token = await rawApi(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/rotating-token/token`,
      {
        body: {
          spec: {
            audiences: [],
            expirationSeconds: 3600,
            boundObjectRef: {
              apiVersion: 'v1',
              kind: 'Secret',
              name: secret,
              uid: created.body.metadata.uid,
            },
          },
        },
      },
    );
    return token.body.status.token as string;
  };
  const tokenFile = join(info.dir, `${namespace}-token`);
  await writeFile(tokenFile, await boundToken('first'), { mode: 0o600 });
  const kubeconfig = join(info.dir, `${namespace}-rotating-token.kubeconfig`);
  await writeFile(
    kubeconfig,
    renderKubeconfig({ server: info.server, caPem: info.caPem, user: 'sa', tokenFile }),
  );
  const sidecar = await leadWith(kubeconfig, 'rotating-token');
  const fromLine = sidecar.logLines().length;

  await replaceFile(tokenFile, await boundToken('second'));
  assert.equal((await rawApi('DELETE', `/api/v1/namespaces/${namespace}/secrets/first`)).status, 200);
  const line = await keptLeading(
    sidecar,
    'rotating-token',
    fromLine,
    (l) => l.msg === 'API credentials changed; using the new ones',
  );
  assert.equal(line.why, 'HTTP 401', 'the refused token made it read the file again');
  assert.equal(line.tls, false, 'a new token needs no new connection');
});

test('a rotated client certificate replaces the connection: the leader keeps leading', async () => {
  const { info } = testCluster();
  const ca = CertificateAuthority.open(info.clientCaDir);
  const bind = async (user: string) => {
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
    await rawApi('POST', `${rbac}/roles`, {
      body: { metadata: { name: user }, rules: sidecarRules('rotating-cert') },
    });
    await rawApi('POST', `${rbac}/rolebindings`, {
      body: {
        metadata: { name: user },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    });
  };
  await bind('cert-user-a');
  await bind('cert-user-b');
  const certFile = join(info.dir, `${namespace}-client.crt`);
  const keyFile = join(info.dir, `${namespace}-client.key`);
  const first = await ca.issue('cert-user-a');
  await writeFile(certFile, first.cert);
  await writeFile(keyFile, first.key, { mode: 0o600 });
  const kubeconfig = join(info.dir, `${namespace}-rotating-cert.kubeconfig`);
  await writeFile(
    kubeconfig,
    renderKubeconfig({
      server: info.server,
      caPem: info.caPem,
      user: 'cert',
      clientCertificate: certFile,
      clientKey: keyFile,
    }),
  );
  const sidecar = await leadWith(kubeconfig, 'rotating-cert');
  const fromLine = sidecar.logLines().length;

  // A new certificate for another user; the old user loses its rights, so only the new one can renew.
  const second = await ca.issue('cert-user-b');
  await replaceFile(keyFile, second.key);
  await replaceFile(certFile, second.cert);
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  assert.equal((await rawApi('DELETE', `${rbac}/rolebindings/cert-user-a`)).status, 200);
  const line = await keptLeading(
    sidecar,
    'rotating-cert',
    fromLine,
    (l) => l.msg === 'API credentials changed; using the new ones',
  );
  assert.equal(line.why, 'HTTP 403', 'refused as the old user, it read the files again');
  assert.equal(line.tls, true, 'and rebuilt its connection with the new certificate');
  await waitUntil(
    'the old connection to close, leaving one',
    async () =>
      (await connectionsTo(sidecar.child.pid as number, info.apiserverPort)) === 1 ? true : undefined,
    5_000,
    100,
  );
  assert.equal((await sidecar.leader()).isLeader, true);
});

test('a kubeconfig with an exec plugin is handed to client-node, and the sidecar leads with it', async () => {
  const { info } = testCluster();
  await createServiceAccount(namespace, 'exec-plugin', sidecarRules('exec-plugin'));
  const token = await rawApi('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/exec-plugin/token`, {
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const credential = JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token: token.body.status.token },
  });
  const plugin = join(info.dir, `${namespace}-credential.json`);
  await writeFile(plugin, credential);
  const kubeconfig = join(info.dir, `${namespace}-exec.kubeconfig`);
  const rendered = renderKubeconfig({ server: info.server, caPem: info.caPem, user: 'exec' });
  await writeFile(
    kubeconfig,
    rendered.replace(
      '  user:\n',
      `  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: cat\n      args: [${plugin}]\n      interactiveMode: Never\n`,
    ),
  );
  await leadWith(kubeconfig, 'exec-plugin');
});
