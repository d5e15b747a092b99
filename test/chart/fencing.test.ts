// Fencing enforced by the apiserver: the chart's ValidatingAdmissionPolicy (fencing.enabled) on the real
// apiserver. Writes of the release's ServiceAccount to the fenced resources are admitted only with a token
// bound to the pod that holds the Lease; a holder change moves the right at once; an empty holder admits
// none; the Lease itself, and other identities, are never matched. Render-time refusals too.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createNamespace,
  createServiceAccount,
  kubectl,
  podBoundToken,
  sidecarRules,
  testCluster,
} from '../support/cluster.ts';
import { chartDir, helm, renderError, renderTemplate } from '../support/helm.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { waitUntil } from '../support/sidecar.ts';

const release = 'fenced';
const serviceAccount = 'fenced-leasehold';
const lease = 'fenced-leasehold';
// The fenced resources exactly as docs/fencing.md's upgrade command sets them.
const fencingDoc = await readFile(fileURLToPath(new URL('../../docs/fencing.md', import.meta.url)), 'utf8');
const resources = /--set-json 'fencing\.resources=(\[.*\])'/.exec(fencingDoc)?.[1] ?? '';
let namespace = '';
const tokens: Record<string, string> = {};

let written = 0;
/** Creates a ConfigMap as `who`: the status and the refusal's message. */
async function write(who: string): Promise<{ status: number; message: string }> {
  const { status, body } = await rawApi('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
    token: tokens[who],
    body: { metadata: { name: `w-${who}-${written++}` }, data: { by: who } },
  });
  return { status, message: body?.message ?? '' };
}

async function setHolder(holderIdentity: string): Promise<void> {
  const path = leasePath(namespace, lease);
  for (;;) {
    const { body } = await rawApi('GET', path);
    body.spec.holderIdentity = holderIdentity;
    const { status } = await rawApi('PUT', path, { body });
    if (status === 200) return;
    assert.equal(status, 409);
  }
}

before(async () => {
  assert.match(resources, /configmaps/, 'docs/fencing.md names the fenced resources');
  await helm(['dependency', 'build', chartDir]);
  namespace = await createNamespace('fencing');
  await createServiceAccount(namespace, serviceAccount, [
    ...sidecarRules(lease),
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'update', 'delete'] },
  ]);
  tokens.a = await podBoundToken(namespace, serviceAccount, 'fenced-a');
  tokens.b = await podBoundToken(namespace, serviceAccount, 'fenced-b');
  const { body } = await rawApi(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    {
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    },
  );
  tokens.unbound = body.status.token;
  await rawApi('POST', leasePath(namespace), {
    body: { metadata: { name: lease }, spec: { holderIdentity: 'fenced-a_k3j2', leaseDurationSeconds: 15 } },
  });
});

test('fencing.enabled: only the pod that holds the Lease may write; a holder change moves that at once; no holder, nobody', async () => {
  const stdout = await renderTemplate(release, namespace, 'templates/fencing.yaml', [
    '--kube-version',
    '1.36.3',
    '--set',
    'fencing.enabled=true',
    '--set-json',
    `fencing.resources=${resources}`,
  ]);
  const file = join(testCluster().info.dir, `${namespace}-fencing.yaml`);
  await writeFile(file, stdout);
  assert.equal((await write('b')).status, 201, 'before the policy, anyone of the ServiceAccount writes');
  await kubectl(['apply', '--server-side', '-f', file]);
  // The apiserver picks new policies up within moments, and the Lease (its parameter) a moment later:
  // until then a write is refused for want of the parameter, without a holder to name.
  const refused = await waitUntil(
    'the policy enforced with the Lease seen',
    async () => {
      const answer = await write('b');
      return answer.status !== 201 && answer.message.includes('does not hold') ? answer : undefined;
    },
    10_000,
    100,
  );
  assert.equal(refused.status, 422);
  assert.match(
    refused.message,
    /pod fenced-b does not hold Lease .*\/fenced-leasehold \(holder: fenced-a_k3j2\)/,
  );
  assert.equal((await write('a')).status, 201, 'the holder writes');
  const unbound = await write('unbound');
  assert.equal(unbound.status, 422);
  assert.match(unbound.message, /a token not bound to a pod/);

  // The holder changes: the old one is refused from its next write on, the new one admitted.
  await setHolder('fenced-b_9x8w');
  const moved = await waitUntil(
    'the new holder admitted',
    async () => ((await write('b')).status === 201 ? true : undefined),
    5_000,
    10,
  );
  assert.ok(moved);
  assert.equal((await write('a')).status, 422, 'the old holder is refused');
  await setHolder('');
  await waitUntil(
    'nobody admitted',
    async () => ((await write('b')).status === 422 ? true : undefined),
    5_000,
    10,
  );
  const none = await write('a');
  assert.equal(none.status, 422);
  assert.match(none.message, /holder: none/);

  // Never matched: the Lease itself (a fenced replica must still campaign), and other identities.
  const { body } = await rawApi('GET', leasePath(namespace, lease), { token: tokens.a });
  body.spec.holderIdentity = 'fenced-a_k3j2';
  assert.equal((await rawApi('PUT', leasePath(namespace, lease), { body, token: tokens.a })).status, 200);
  assert.equal(
    (
      await rawApi('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
        body: { metadata: { name: 'admin-1' } },
      })
    ).status,
    201,
    'an administrator is not fenced',
  );
  await kubectl(['delete', '-f', file]);
});

test('fencing refuses at render time: no resources, leases or events or pods among them, shards, a cluster without the API', async () => {
  assert.match(await renderError({ 'fencing.enabled': 'true' }), /fencing\.enabled needs fencing\.resources/);
  for (const resource of ['leases', 'events', 'pods'])
    assert.match(
      await renderError({
        'fencing.enabled': 'true',
        'fencing.resources[0].resources[0]': resource,
        'fencing.resources[0].operations[0]': 'CREATE',
      }),
      new RegExp(`fencing\\.resources may not name "${resource}"`),
    );
  assert.match(
    await renderError({
      'fencing.enabled': 'true',
      'sidecar.shards': '4',
      'fencing.resources[0].resources[0]': 'configmaps',
      'fencing.resources[0].operations[0]': 'CREATE',
    }),
    /fencing is one Lease's for now; with shards/,
  );
  const old = await helm([
    'template',
    'x',
    chartDir,
    '--kube-version',
    '1.29.4',
    '--set',
    'fencing.enabled=true',
    '--set-json',
    `fencing.resources=${resources}`,
  ]).then(
    () => assert.fail('rendered fencing for 1.29'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(
    old,
    /needs admissionregistration\.k8s\.io\/v1 ValidatingAdmissionPolicy \(Kubernetes >= 1\.30\)/,
  );
});
