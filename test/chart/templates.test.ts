// Template tests of chart/leasehold: helm lint, then one rendering per behaviour, asserted on the
// parsed objects. No cluster needed; the server-side checks are in install.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { controlPlaneBinaries } from '../cluster/binaries.ts';
import {
  chartDir,
  find,
  helm,
  type K8sObject,
  libraryChartDir,
  render,
  renderError,
  thirdPartyChartDir,
} from '../support/helm.ts';

before(async () => {
  await helm(['dependency', 'build', chartDir]);
});

test('helm lint --strict passes for the chart and the library chart', async () => {
  const app = await helm(['lint', '--strict', chartDir]);
  assert.match(app.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  const lib = await helm(['lint', '--strict', libraryChartDir]);
  assert.match(lib.stdout, /0 chart\(s\) failed/);
});

test('default: the sidecar is a native sidecar, the controller gets LEASEHOLD_URL', async () => {
  const deployment = find(await render(), 'Deployment');
  const pod = deployment.spec.template.spec;
  assert.equal(deployment.spec.replicas, 2);
  assert.equal(pod.initContainers.length, 1);
  const sidecar = pod.initContainers[0];
  assert.equal(sidecar.name, 'leasehold');
  assert.equal(sidecar.restartPolicy, 'Always');
  assert.equal(sidecar.image, 'ghcr.io/leasehold/sidecar:0.1.0');
  const env = Object.fromEntries(sidecar.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
  assert.equal(env.LEASE_NAME, 'demo-leasehold');
  assert.equal(env.LEASE_DURATION_SECONDS, '15');
  assert.equal(env.PROBE_PORT, '4041');
  assert.equal(sidecar.livenessProbe.httpGet.path, '/healthz');
  assert.equal(sidecar.readinessProbe.httpGet.path, '/readyz');
  assert.equal(sidecar.startupProbe.httpGet.port, 'probes');
  assert.deepEqual(sidecar.securityContext.capabilities.drop, ['ALL']);
  assert.equal(sidecar.securityContext.readOnlyRootFilesystem, true);
  const controller = pod.containers[0];
  assert.equal(pod.containers.length, 1);
  assert.deepEqual(controller.env[0], { name: 'LEASEHOLD_URL', value: 'http://127.0.0.1:4040' });
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(pod.terminationGracePeriodSeconds, 30);
  assert.equal(pod.topologySpreadConstraints[0].topologyKey, 'topology.kubernetes.io/zone');
  assert.equal(
    pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm
      .topologyKey,
    'kubernetes.io/hostname',
  );
});

test('nativeSidecar=false: a plain container beside the controller, for clusters before 1.29', async () => {
  const pod = find(await render({ 'sidecar.nativeSidecar': 'false' }), 'Deployment').spec.template.spec;
  assert.equal(pod.initContainers, undefined);
  assert.deepEqual(
    pod.containers.map((c: { name: string }) => c.name),
    ['controller', 'leasehold'],
  );
  assert.equal(pod.containers[1].restartPolicy, undefined);
});

test('bring your own controller image', async () => {
  const pod = find(
    await render({ 'controller.image.repository': 'registry.example/mine', 'controller.image.tag': '2.3.4' }),
    'Deployment',
  ).spec.template.spec;
  assert.equal(pod.containers[0].image, 'registry.example/mine:2.3.4');
});

test('RBAC: the Lease by name, create separately, Events; pod patch only with role labels', async () => {
  const role = find(await render(), 'Role');
  const leaseRules = role.rules.filter((r: { resources: string[] }) => r.resources.includes('leases'));
  assert.equal(leaseRules.length, 2);
  assert.deepEqual(leaseRules[0].resourceNames, ['demo-leasehold']);
  assert.deepEqual(leaseRules[0].verbs, ['get', 'watch', 'update', 'patch']);
  assert.deepEqual(leaseRules[1].verbs, ['create']);
  assert.equal(leaseRules[1].resourceNames, undefined);
  assert.ok(role.rules.some((r: { resources: string[] }) => r.resources.includes('events')));
  assert.ok(!role.rules.some((r: { resources: string[] }) => r.resources.includes('pods')));
  const labelled = find(await render({ 'sidecar.podRoleLabel': 'true' }), 'Role');
  assert.ok(
    labelled.rules.some(
      (r: { resources: string[]; verbs: string[] }) =>
        r.resources.includes('pods') && r.verbs.includes('patch'),
    ),
  );
  const binding = find(await render(), 'RoleBinding');
  assert.equal(binding.subjects[0].name, 'demo-leasehold');
  assert.equal(binding.subjects[0].namespace, 'team-a');
});

test('shards: RBAC names every shard Lease, the sidecar and the controller both get SHARDS; the schema caps it at 64', async () => {
  const objects = await render({ 'sidecar.shards': '3' });
  const role = find(objects, 'Role');
  assert.deepEqual(role.rules[0].resourceNames, ['demo-leasehold-0', 'demo-leasehold-1', 'demo-leasehold-2']);
  const pod = find(objects, 'Deployment').spec.template.spec;
  const envOf = (container: { env: { name: string; value?: string }[] }) =>
    Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  assert.equal(envOf(pod.initContainers[0]).SHARDS, '3');
  assert.equal(envOf(pod.containers[0]).SHARDS, '3');
  const single = find(await render(), 'Deployment').spec.template.spec;
  assert.equal(envOf(single.initContainers[0]).SHARDS, undefined, 'unsharded: no SHARDS at all');
  assert.equal(envOf(single.containers[0]).SHARDS, undefined);
  assert.match(await renderError({ 'sidecar.shards': '65' }), /shards.*maximum: got 65, want 64/);
});

test('PodDisruptionBudget: minAvailable by default, maxUnavailable instead, never both', async () => {
  assert.equal(find(await render(), 'PodDisruptionBudget').spec.minAvailable, 1);
  const pdb = find(
    await render({ 'podDisruptionBudget.minAvailable': 'null', 'podDisruptionBudget.maxUnavailable': '1' }),
    'PodDisruptionBudget',
  );
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.equal(pdb.spec.minAvailable, undefined);
  assert.match(
    await renderError({ 'podDisruptionBudget.maxUnavailable': '1' }),
    /minAvailable or podDisruptionBudget.maxUnavailable, not both/,
  );
});

test('invalid combinations fail with a clear message', async () => {
  assert.match(
    await renderError({ 'sidecar.election.renewDeadlineSeconds': '15' }),
    /renewDeadlineSeconds \(15\) must be less than leaseDurationSeconds \(15\)/,
  );
  assert.match(
    await renderError({ 'sidecar.election.retryPeriodSeconds': '9' }),
    /greater than 1.2 x retryPeriodSeconds/,
  );
  // Validity 2 s against renewals every 2 s: no room for the request.
  assert.match(
    await renderError({ 'sidecar.election.safetyMarginSeconds': '13' }),
    /validity min\(sidecar\.election\.renewDeadlineSeconds, leaseDurationSeconds - safetyMarginSeconds\) = 2 s must exceed 1.2 x max\(retryPeriodSeconds, 1 s\) = 2.4 s/,
  );
  // RP 0.2 s would allow RD 1.1 s, but renewals come at most once a wall second.
  assert.match(
    await renderError({
      'sidecar.election.leaseDurationSeconds': '2',
      'sidecar.election.renewDeadlineSeconds': '1.1',
      'sidecar.election.retryPeriodSeconds': '0.2',
      'sidecar.election.safetyMarginSeconds': '0.5',
    }),
    /= 1.1 s must exceed 1.2 x max\(retryPeriodSeconds, 1 s\) = 1.2 s/,
  );
  assert.match(
    await renderError({ terminationGracePeriodSeconds: '5' }),
    /terminationGracePeriodSeconds \(5\) is too short/,
  );
  assert.match(await renderError({ 'sidecar.probePort': '4040' }), /port and sidecar.probePort must differ/);
  assert.match(
    await renderError({ 'metrics.serviceMonitor.enabled': 'true' }),
    /needs metrics.service.enabled/,
  );
  assert.match(await renderError({ replicaCount: '1' }), /blocks every node drain/);
});

test('the helm test pod is outside every selector of the release and reads the release Lease', async () => {
  const objects = await render();
  const testPod = objects.find((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test') as K8sObject;
  const selector = find(objects, 'Deployment').spec.selector.matchLabels as Record<string, string>;
  const labels = testPod.metadata.labels ?? {};
  assert.ok(
    Object.entries(selector).some(([key, value]) => labels[key] !== value),
    `the test pod's labels ${JSON.stringify(labels)} must not match the selector ${JSON.stringify(selector)}`,
  );
  const env = Object.fromEntries(
    testPod.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assert.equal(env.LEASE_NAME, 'demo-leasehold');
  assert.equal(env.NAMESPACE, 'team-a');
  assert.equal(testPod.spec.serviceAccountName, find(objects, 'ServiceAccount').metadata.name);
});

test('values.schema.json rejects unknown and mistyped values', async () => {
  assert.match(await renderError({ 'sidecar.ttl': '5' }), /additional propert/i);
  assert.match(await renderError({ 'sidecar.election.leaseDurationSeconds': '2.5' }), /leaseDurationSeconds/);
  assert.match(await renderError({ 'sidecar.logLevel': 'loud' }), /logLevel/);
});

test('monitoring objects are off by default and complete when on', async () => {
  const rendered = await render();
  const hooks = rendered.filter((o) => o.metadata.annotations?.['helm.sh/hook']);
  const kinds = rendered
    .filter((o) => !hooks.includes(o))
    .map((o) => o.kind)
    .sort();
  assert.deepEqual(kinds, [
    'Deployment',
    'FlowSchema',
    'PodDisruptionBudget',
    'Role',
    'RoleBinding',
    'ServiceAccount',
  ]);
  assert.deepEqual(
    hooks.map((o) => `${o.kind} ${o.metadata.annotations?.['helm.sh/hook']}`),
    ['Pod test'],
  );
  const objects = await render({
    'metrics.service.enabled': 'true',
    'metrics.serviceMonitor.enabled': 'true',
    'metrics.prometheusRule.enabled': 'true',
  });
  const service = find(objects, 'Service');
  assert.equal(service.spec.ports[0].targetPort, 'probes');
  const monitor = find(objects, 'ServiceMonitor');
  assert.equal(monitor.spec.endpoints[0].path, '/metrics');
  // Selector labels only: a chart-version label in the selector stops matching after every upgrade.
  assert.deepEqual(monitor.spec.selector.matchLabels, find(objects, 'Deployment').spec.selector.matchLabels);
  for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels))
    assert.equal(service.metadata.labels?.[key], value, `the Service carries ${key}`);
  const rules = find(objects, 'PrometheusRule').spec.groups[0].rules as { alert: string; expr: string }[];
  assert.deepEqual(
    rules.map((r) => r.alert),
    ['LeaseholdNoLeader', 'LeaseholdLeadershipFlapping'],
  );
  // No series at all (every sidecar gone) must also read as "no leader".
  assert.match(rules[0]?.expr ?? '', /or on\(\) vector\(0\)\) < 1$/);
  // Flapping counts this release's sidecars only, not every Leasehold deployment in the namespace.
  assert.match(rules[1]?.expr ?? '', new RegExp(`service="${service.metadata.name}"`));
});

test('sharded: the alerts mean something for shards (an unowned shard, an unfair share), the single-Lease ones are not rendered; helm test reads every shard Lease', async () => {
  const objects = await render({
    'sidecar.shards': '4',
    'metrics.service.enabled': 'true',
    'metrics.prometheusRule.enabled': 'true',
  });
  const rules = find(objects, 'PrometheusRule').spec.groups[0].rules as {
    alert: string;
    expr: string;
    for: string;
  }[];
  assert.deepEqual(
    rules.map((r) => r.alert),
    ['LeaseholdShardWithoutOwner', 'LeaseholdShardsUnbalanced'],
  );
  const service = find(objects, 'Service').metadata.name;
  const [unowned, unbalanced] = rules as [(typeof rules)[0], (typeof rules)[0]];
  assert.match(
    unowned.expr,
    new RegExp(
      `^\\(max by \\(shard\\) \\(leasehold_shard_owned\\{namespace="team-a",service="${service}"\\}\\) < 1\\) or absent\\(`,
    ),
  );
  assert.equal(unowned.for, '30s', 'LD (15 s) plus 15 s: a crash leaves a shard unowned for up to LD');
  assert.match(unbalanced.expr, /> max\(leasehold_shards_fair_share\{[^}]*bound="max"\}\)$/);
  assert.equal(unbalanced.for, '30s', '2 x LD');
  const testPod = objects.find((o) => o.kind === 'Pod') as K8sObject;
  const env = Object.fromEntries(
    testPod.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assert.equal(env.SHARDS, '4');
  const role = find(objects, 'Role');
  assert.deepEqual(
    role.rules[0].resourceNames,
    [0, 1, 2, 3].map((i) => `${env.LEASE_NAME}-${i}`),
    'and may',
  );
});

test('names fit in 63 characters, also with the longest fullnameOverride', async () => {
  const objects = await render({ fullnameOverride: 'a'.repeat(63), 'metrics.service.enabled': 'true' });
  for (const object of objects)
    assert.ok(object.metadata.name.length <= 63, `${object.kind} ${object.metadata.name}`);
  assert.match(find(objects, 'Service').metadata.name, /^a{55}-metrics$/);
});

test('a native sidecar on a cluster older than 1.29 is refused with what to set; a plain one renders', async () => {
  const old = await helm(['template', 'demo', chartDir, '--kube-version', '1.28.4']).then(
    () => assert.fail('rendered a native sidecar for 1.28'),
    (err: { stderr: string }) => err.stderr,
  );
  assert.match(
    old,
    /sidecar\.nativeSidecar needs Kubernetes >= 1\.29 \(this cluster: v1\.28\.4\); set sidecar\.nativeSidecar=false/,
  );
  await helm([
    'template',
    'demo',
    chartDir,
    '--kube-version',
    '1.28.4',
    '--set',
    'sidecar.nativeSidecar=false',
  ]);
});

test("the controller's own knobs: digest, ports, probes, securityContext, pod securityContext without a UID, affinity, spread, PDB eviction policy", async () => {
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const objects = await render({
    'controller.image.digest': digest('a'),
    'sidecar.image.digest': digest('b'),
    'controller.ports[0].name': 'http',
    'controller.ports[0].containerPort': '8080',
    'controller.readinessProbe.httpGet.path': '/ready',
    'controller.readinessProbe.httpGet.port': 'http',
    'controller.securityContext.runAsUser': '1000',
    'podSecurityContext.runAsUser': 'null',
    'podSecurityContext.runAsGroup': 'null',
    'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key':
      'pool',
    'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator':
      'Exists',
    'topologySpreadConstraints[0].maxSkew': '2',
    'topologySpreadConstraints[0].topologyKey': 'pool',
    'topologySpreadConstraints[0].whenUnsatisfiable': 'DoNotSchedule',
    'podDisruptionBudget.unhealthyPodEvictionPolicy': 'AlwaysAllow',
  });
  const pod = find(objects, 'Deployment').spec.template.spec;
  const controller = pod.containers[0];
  assert.equal(controller.image, `ghcr.io/leasehold/example-controller@${digest('a')}`);
  assert.equal(pod.initContainers[0].image, `ghcr.io/leasehold/sidecar@${digest('b')}`);
  assert.deepEqual(controller.ports, [{ name: 'http', containerPort: 8080 }]);
  assert.deepEqual(controller.readinessProbe, { httpGet: { path: '/ready', port: 'http' } });
  assert.equal(controller.securityContext.runAsUser, 1000);
  assert.equal(controller.securityContext.allowPrivilegeEscalation, false, 'the defaults stay');
  assert.deepEqual(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  assert.deepEqual(Object.keys(pod.affinity), ['nodeAffinity'], 'replaces the default anti-affinity');
  assert.deepEqual(
    pod.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey),
    ['pool'],
  );
  assert.equal(find(objects, 'PodDisruptionBudget').spec.unhealthyPodEvictionPolicy, 'AlwaysAllow');
  assert.match(await renderError({ 'controller.image.digest': 'latest' }), /digest/);
  // Unset, the defaults render: tag from appVersion, UID 65532, zone spread, host anti-affinity.
  const defaults = find(await render(), 'Deployment').spec.template.spec;
  assert.equal(defaults.containers[0].image, 'ghcr.io/leasehold/example-controller:0.1.0');
  assert.equal(defaults.securityContext.runAsUser, 65532);
  assert.ok(defaults.affinity.podAntiAffinity);
  assert.equal(defaults.topologySpreadConstraints[0].topologyKey, 'topology.kubernetes.io/zone');
});

test('leasehold-lib: its values.yaml documents exactly the defaults it applies, and its image tag is its own appVersion', async () => {
  const settings = await readFile(join(libraryChartDir, 'templates/_settings.tpl'), 'utf8');
  const body = /define "leasehold\.sidecar\.defaults" -\}\}\n([\s\S]*?)\{\{- end -\}\}/.exec(settings)?.[1];
  assert.ok(body, 'the defaults template is found');
  const defaults = parse(body);
  const documented = parse(await readFile(join(libraryChartDir, 'values.yaml'), 'utf8')).leasehold;
  assert.deepEqual(documented, defaults);
  const chart = parse(await readFile(join(libraryChartDir, 'Chart.yaml'), 'utf8'));
  assert.equal(defaults.image.tag, chart.appVersion);
});

test("leasehold-lib refuses what the sidecar would: the option table's bounds and enums, in a third-party chart", async () => {
  await helm(['dependency', 'build', thirdPartyChartDir]);
  const refused = async (set: string) =>
    helm(['template', 'acme', thirdPartyChartDir, '--set-json', set]).then(
      () => '',
      (err: { stderr: string }) => err.stderr,
    );
  assert.match(await refused('leasehold.shards=65'), /leasehold\.shards must be 0 to 64, got 65/);
  assert.match(
    await refused('leasehold.election.retryPeriodSeconds=0.01'),
    /leasehold\.election\.retryPeriodSeconds must be 0\.05 to 600, got 0\.01/,
  );
  assert.match(
    await refused('leasehold.logLevel="loud"'),
    /leasehold\.logLevel must be one of trace, debug, info, warn, error, fatal, got "loud"/,
  );
  assert.equal(await refused('leasehold.shards=64'), '', 'the limit itself renders');
});

test('ct lint (chart-testing, pinned, with its yamllint and Chart.yaml schema) passes for both charts', async () => {
  const run = promisify(execFile);
  const script = fileURLToPath(new URL('../cluster/build-chart-testing.sh', import.meta.url));
  const ct = (await run('bash', [script], { maxBuffer: 16 << 20 })).stdout.trim();
  const { helm: helmBinary } = await controlPlaneBinaries();
  const { stdout } = await run(
    join(ct, 'bin/ct'),
    [
      'lint',
      '--charts',
      `${chartDir},${libraryChartDir}`,
      '--chart-yaml-schema',
      join(ct, 'etc/chart_schema.yaml'),
      '--lint-conf',
      join(ct, 'etc/lintconf.yaml'),
      '--validate-maintainers=false',
      '--check-version-increment=false',
    ],
    {
      cwd: dirname(chartDir),
      env: { ...process.env, PATH: `${join(ct, 'venv/bin')}:${dirname(helmBinary)}:${process.env.PATH}` },
      maxBuffer: 16 << 20,
    },
  );
  assert.match(stdout, /All charts linted successfully/);
});
