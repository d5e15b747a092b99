// The chart's FlowSchema on the real apiserver: the apiserver itself says (API Priority and Fairness
// response headers) which FlowSchema and priority level classified each request. The release's Lease
// requests land in `leader-election`; anything else it asks for, and the same requests without the
// FlowSchema, do not.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { classify, flowcontrol, serviceAccountToken, uidOf } from '../support/apf.ts';
import {
  createNamespace,
  createServiceAccount,
  kubectl,
  sidecarRules,
  testCluster,
} from '../support/cluster.ts';
import { chartDir, helm, parseManifest, renderTemplate } from '../support/helm.ts';
import { leasePath } from '../support/raw-api.ts';
import { waitUntil } from '../support/sidecar.ts';

let namespace = '';
let token = '';
let manifest = '';

before(async () => {
  await helm(['dependency', 'build', chartDir]);
  namespace = await createNamespace('flowschema');
  manifest = await renderTemplate('fs', namespace, 'templates/flowschema.yaml');
  await createServiceAccount(namespace, 'fs-leasehold', sidecarRules('fs-leasehold'));
  token = await serviceAccountToken(namespace, 'fs-leasehold');
});

test("the FlowSchema puts the release's Lease requests, and only those, in the leader-election priority level", async () => {
  const [flowSchema] = parseManifest(manifest);
  assert.equal(flowSchema?.kind, 'FlowSchema');
  const name = flowSchema?.metadata.name as string;
  const leaderElection = await uidOf(`${flowcontrol}/prioritylevelconfigurations/leader-election`);
  assert.ok(leaderElection, 'the apiserver has the leader-election priority level');
  const lease = leasePath(namespace, 'fs-leasehold');

  const without = await classify(lease, token);
  assert.ok(without.priorityLevel, 'the apiserver classifies every request (APF is on)');
  assert.notEqual(without.priorityLevel, leaderElection, 'without it: ordinary workload traffic');

  const file = join(testCluster().info.dir, `${namespace}-flowschema.yaml`);
  await writeFile(file, manifest);
  await kubectl(['apply', '--server-side', '-f', file]);
  const uid = await uidOf(`${flowcontrol}/flowschemas/${name}`);
  // The apiserver's APF controller picks new FlowSchemas up within moments.
  const classified = await waitUntil(
    'the FlowSchema in use',
    async () => {
      const c = await classify(lease, token);
      return c.flowSchema === uid ? c : undefined;
    },
    10_000,
    100,
  );
  assert.equal(classified.priorityLevel, leaderElection);
  const other = await classify(`/api/v1/namespaces/${namespace}/configmaps`, token);
  assert.notEqual(other.flowSchema, uid, 'other requests of the ServiceAccount are not matched');
  assert.notEqual(other.priorityLevel, leaderElection);
  const elsewhere = await classify(leasePath('default', 'fs-leasehold'), token);
  assert.notEqual(elsewhere.flowSchema, uid, 'Leases of other namespaces are not matched');
  await kubectl(['delete', '-f', file]);
});
