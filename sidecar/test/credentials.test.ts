// Where the API credentials come from: the ServiceAccount files of a pod, or a kubeconfig the sidecar can
// read itself (token, token file, client certificate, basic auth); anything else is delegated.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LeaseholdError } from '../src/errors.ts';
import { inClusterSource } from '../src/kube/credentials.ts';
import { kubeconfigSource } from '../src/kube/kubeconfig-source.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

async function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}, extra = '') {
  const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
  const path = join(dir, 'config');
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'current-context: c',
    'contexts: [{name: c, context: {cluster: k, user: u}}]',
    `clusters: [{name: k, cluster: ${JSON.stringify({ server: 'https://10.0.0.1:6443/', ...cluster })}}]`,
    `users: [{name: u, user: ${JSON.stringify(user)}}]`,
    extra,
  ].join('\n');
  await writeFile(path, yaml);
  return { dir, path };
}

function read(source: ReturnType<typeof kubeconfigSource>) {
  assert.equal(source.kind, 'files');
  return source.kind === 'files' ? source.read() : assert.fail();
}

test('a token and inline CA: the server without its trailing slash, the CA decoded', async () => {
  const { path } = await kubeconfig({ token: 'abc' }, { 'certificate-authority-data': b64('CA PEM') });
  const credentials = read(kubeconfigSource(path));
  assert.equal(credentials.server, 'https://10.0.0.1:6443');
  assert.equal(credentials.token, 'abc');
  assert.equal(credentials.ca, 'CA PEM');
  assert.equal(credentials.insecureSkipTlsVerify, false);
});

test('a token file (tokenFile or token-file, relative to the kubeconfig) is read on every read', async () => {
  for (const field of ['tokenFile', 'token-file']) {
    const { dir, path } = await kubeconfig({ [field]: 'token.txt' });
    await writeFile(join(dir, 'token.txt'), 'first\n');
    const source = kubeconfigSource(path);
    assert.equal(read(source).token, 'first', field);
    await writeFile(join(dir, 'token.txt'), 'second');
    assert.equal(read(source).token, 'second', field);
  }
});

test('client certificates from data or files; the TLS fingerprint changes when they do, not with the token', async () => {
  const { dir, path } = await kubeconfig({
    'client-certificate': 'c.crt',
    'client-key': join(tmpdir(), 'nonexistent-but-unused'),
    'client-key-data': b64('KEY'),
  });
  await writeFile(join(dir, 'c.crt'), 'CERT 1');
  const source = kubeconfigSource(path);
  const first = read(source);
  assert.equal(first.cert, 'CERT 1');
  assert.equal(first.key, 'KEY', 'data wins over a file');
  await writeFile(join(dir, 'c.crt'), 'CERT 2');
  const second = read(source);
  assert.notEqual(second.tlsFingerprint, first.tlsFingerprint);
  const tokens = await kubeconfig({ tokenFile: 'token' });
  await writeFile(join(tokens.dir, 'token'), 'a');
  const tokenSource = kubeconfigSource(tokens.path);
  const before = read(tokenSource).tlsFingerprint;
  await writeFile(join(tokens.dir, 'token'), 'b');
  assert.equal(read(tokenSource).tlsFingerprint, before);
});

test('basic auth, insecure-skip-tls-verify and tls-server-name are honoured', async () => {
  const { path } = await kubeconfig(
    { username: 'u', password: 'p' },
    { 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.internal' },
  );
  const credentials = read(kubeconfigSource(path));
  assert.equal(credentials.basicAuth, b64('u:p'));
  assert.equal(credentials.insecureSkipTlsVerify, true);
  assert.equal(credentials.servername, 'api.internal');
});

test('exec plugins, auth providers, impersonation and proxies are delegated to client-node', async () => {
  for (const [user, cluster] of [
    [{ exec: { command: 'aws' } }, {}],
    [{ 'auth-provider': { name: 'oidc' } }, {}],
    [{ token: 'x', as: 'someone' }, {}],
    [{ token: 'x' }, { 'proxy-url': 'http://proxy:3128' }],
  ] as const) {
    const { path } = await kubeconfig(user as Record<string, unknown>, cluster as Record<string, unknown>);
    assert.deepEqual(kubeconfigSource(path), { kind: 'delegated', describe: path, kubeconfig: path });
  }
});

test('a kubeconfig without a current cluster, unreadable or not YAML: LEASEHOLD_KUBECONFIG naming the file', async () => {
  const { path } = await kubeconfig({ token: 'x' }, {}, '');
  const dir = await mkdtemp(join(tmpdir(), 'bad-'));
  await writeFile(join(dir, 'no-context'), 'apiVersion: v1\nkind: Config\nclusters: []\n');
  await writeFile(join(dir, 'not-yaml'), 'a: [unclosed');
  for (const bad of [join(dir, 'no-context'), join(dir, 'not-yaml'), join(dir, 'missing')]) {
    assert.throws(
      () => kubeconfigSource(bad),
      (err: unknown) =>
        err instanceof LeaseholdError && err.code === 'LEASEHOLD_KUBECONFIG' && err.message.includes(bad),
    );
  }
  assert.equal(kubeconfigSource(path).kind, 'files');
});

test('in-cluster: the ServiceAccount token and CA files, the server from KUBERNETES_SERVICE_HOST/PORT', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sa-'));
  await writeFile(join(dir, 'token'), 'sa-token\n');
  await writeFile(join(dir, 'ca.crt'), 'SA CA');
  const source = inClusterSource(
    { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    dir,
  );
  assert.equal(source.kind, 'files');
  const credentials = source.kind === 'files' ? source.read() : assert.fail();
  assert.equal(credentials.server, 'https://10.96.0.1:443');
  assert.equal(credentials.token, 'sa-token');
  assert.equal(credentials.ca, 'SA CA');
  const v6 = inClusterSource({ KUBERNETES_SERVICE_HOST: 'fd00::1' }, dir);
  assert.equal(v6.kind === 'files' && v6.read().server, 'https://[fd00::1]:443');
  assert.throws(
    () => inClusterSource({}, dir),
    (err: unknown) =>
      err instanceof LeaseholdError &&
      err.code === 'LEASEHOLD_KUBECONFIG' &&
      /KUBERNETES_SERVICE_HOST/.test(err.message),
  );
});
