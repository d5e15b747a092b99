// End to end on real pods: a local node (kubelet + containerd + runc + CNI) started by the harness, the
// images built from our Dockerfiles and pushed with both charts to the harness's OCI registry, and the
// chart installed from `oci://` with `helm install` as a user would; containerd pulls every image.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { controlPlaneBinaries } from '../cluster/binaries.ts';
import { buildImages, chartRepository, packageCharts, type ReleaseTarget } from '../release/artifacts.ts';
import { versionFields } from '../release/versions.ts';
import { checkRecords } from '../support/checker.ts';
import { helmCreateChartFromDoc, runBlock, toolPath, workspace } from '../support/doc-steps.ts';
import { setUpAndTearDown } from '../support/file-hooks.ts';
import { helm as runHelm } from '../support/helm.ts';
import { waitUntil } from '../support/sidecar.ts';

const scripts = fileURLToPath(new URL('../cluster/node/', import.meta.url));
const run = promisify(execFile);
let kubeconfig = '';
let sidecarImage = '';
let controllerImage = '';
let pauseImage = '';
let recordDir = '';
let target: ReleaseTarget | undefined;
const registryScript = fileURLToPath(new URL('../cluster/registry/registry.sh', import.meta.url));
const releases: { namespace: string; release: string }[] = [];
const retryPeriodMs = 1_000;
const leaseDurationMs = 4_000;

async function script(name: string, args: string[] = []): Promise<string> {
  const { stdout } = await run('bash', [join(scripts, name), ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

async function kubectl(args: string[]): Promise<string> {
  const { kubectl: binary } = await controlPlaneBinaries();
  const { stdout } = await run(binary, ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

/** What the namespace looked like, for a failure message. */
async function describe(namespace: string): Promise<string> {
  const parts = [await kubectl(['-n', namespace, 'get', 'pods,lease', '-o', 'wide']).catch(String)];
  for (const pod of await pods(namespace, 'app.kubernetes.io/instance=ctl').catch(() => [])) {
    parts.push(
      `--- ${pod.metadata.name}`,
      await kubectl(['-n', namespace, 'logs', pod.metadata.name, '-c', 'leasehold', '--tail', '8']).catch(
        String,
      ),
    );
  }
  return parts.join('\n');
}

const helm = (args: string[]) => runHelm(args, { KUBECONFIG: kubeconfig });

interface ContainerStatus {
  name: string;
  containerID?: string;
  restartCount: number;
  started?: boolean;
  image?: string;
  imageID?: string;
}

interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status: {
    conditions?: { type: string; status: string }[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

async function pods(namespace: string, selector: string): Promise<Pod[]> {
  return (
    JSON.parse(await kubectl(['-n', namespace, 'get', 'pods', '-l', selector, '-o', 'json'])) as {
      items: Pod[];
    }
  ).items;
}

const ready = (pod: Pod) =>
  !pod.metadata.deletionTimestamp &&
  pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** The pod of a holder identity (`<pod name>_<random suffix>`; pod names have no `_`). */
const podOf = (identity: string) => identity.replace(/_[^_]*$/, '');

interface LeaseSpec {
  holderIdentity?: string;
  acquireTime?: string;
  renewTime?: string;
}

async function leaseSpec(namespace: string, lease: string): Promise<LeaseSpec> {
  const json = await kubectl(['-n', namespace, 'get', 'lease', lease, '-o', 'jsonpath={.spec}']).catch(
    () => '',
  );
  return json ? (JSON.parse(json) as LeaseSpec) : {};
}

async function holder(namespace: string, lease: string): Promise<string> {
  return (await leaseSpec(namespace, lease)).holderIdentity ?? '';
}

/** The Lease's holder once it has one. */
function waitForHolder(namespace: string, lease: string, timeoutMs = 10_000): Promise<string> {
  return waitUntil('a holder', async () => (await holder(namespace, lease)) || undefined, timeoutMs, 100);
}

/** A release of chart/leasehold on the local images, 2 replicas, 4/3/1 election timings. */
async function install(namespace: string, release: string, extra: string[] = []): Promise<void> {
  releases.push({ namespace, release });
  await kubectl(['create', 'namespace', namespace]);
  await kubectl(['label', 'namespace', namespace, 'leasehold.io/test-run=e2e']);
  // No image settings: the packaged chart names the registry's images, at its appVersion.
  const values: Record<string, string | number | boolean> = {
    'sidecar.podRoleLabel': true,
    'sidecar.election.leaseDurationSeconds': leaseDurationMs / 1000,
    'sidecar.election.renewDeadlineSeconds': 3,
    'sidecar.election.retryPeriodSeconds': retryPeriodMs / 1000,
    'sidecar.election.safetyMarginSeconds': 1,
  };
  await helm([
    'install',
    release,
    `${chartRepository(target as ReleaseTarget)}/leasehold`,
    '--version',
    (target as ReleaseTarget).version,
    '--plain-http',
    '--namespace',
    namespace,
    '--wait',
    '--timeout',
    '180s',
    ...Object.entries(values).flatMap(([key, value]) => ['--set', `${key}=${value}`]),
    ...extra,
  ]);
}

/** Values that make the example controller record its terms and writes for the checker (200 ms each). */
function recording(namespace: string): string[] {
  return [
    '--set',
    'controller.env[0].name=RECORD_FILE',
    '--set',
    `controller.env[0].value=/records/${namespace}-$(POD_NAME).jsonl`,
    '--set',
    'controller.env[1].name=SYNC_DELAY_MS',
    '--set-string',
    'controller.env[1].value=200',
    '--set',
    'controller.volumeMounts[0].name=records',
    '--set',
    'controller.volumeMounts[0].mountPath=/records',
    '--set',
    'volumes[0].name=records',
    '--set',
    `volumes[0].hostPath.path=${recordDir}`,
    '--set',
    'volumes[0].hostPath.type=Directory',
  ];
}

/** Work for the controllers: source ConfigMaps changing every 100 ms, until stopped. */
function startMutator(namespace: string, sources = 4): { stop(): Promise<void> } {
  const stop = new AbortController();
  const running = (async () => {
    for (let i = 0; !stop.signal.aborted; i++) {
      const manifest = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `source-${i % sources}`, namespace, labels: { 'leasehold.io/source': 'true' } },
        data: { value: String(i) },
      };
      const file = join(recordDir, `mutation-${namespace}.json`);
      await writeFile(file, JSON.stringify(manifest));
      await kubectl(['apply', '-f', file]).catch(() => {});
      await sleep(100);
    }
  })();
  return {
    async stop() {
      stop.abort();
      await running;
    },
  };
}

/** The checker over every record file of `namespace`'s pods. */
async function check(namespace: string) {
  const files = (await readdir(recordDir))
    .filter((f) => f.startsWith(`${namespace}-`) && f.endsWith('.jsonl'))
    .map((f) => join(recordDir, f));
  return { files, report: await checkRecords(files) };
}

async function setUp() {
  // The node first: it starts the registry, which the release's images and charts are pushed to.
  const up = await script('node-cluster.sh', ['up']);
  kubeconfig = /KUBECONFIG=(.+)/.exec(up)?.[1] ?? '';
  assert.ok(kubeconfig, `node-cluster.sh up printed no KUBECONFIG: ${up}`);
  const registry = (await run('bash', [registryScript, 'address'])).stdout.trim();
  target = {
    version: (await versionFields()).version,
    registry: `${registry}/leasehold`,
    plainHttp: true,
    push: true,
  };
  const artifacts = await mkdtemp(join(tmpdir(), 'leasehold-e2e-artifacts-'));
  try {
    const { refs } = await buildImages(target, artifacts);
    [sidecarImage, controllerImage] = refs as [string, string];
    pauseImage = `${target.registry}/pause:3.10`;
    await packageCharts(target, artifacts);
  } finally {
    await rm(artifacts, { recursive: true, force: true });
  }
  recordDir = await mkdtemp(join(tmpdir(), 'leasehold-e2e-records-'));
  await chmod(recordDir, 0o1777); // the pods run as 65532
}

// Each test's release goes when the test ends, so the next one runs on a quiet node.
let failed = false;
afterEach(async (t) => {
  if ((t as { passed?: boolean }).passed === false) failed = true;
  for (const { namespace, release } of releases.splice(0)) {
    await helm(['uninstall', release, '--namespace', namespace]).catch(() => {});
  }
});

async function tearDown() {
  // After a failure the node's logs (kubelet, containerd, apiserver, …) are kept for a post-mortem.
  const logs = failed ? await mkdtemp(join(tmpdir(), 'leasehold-node-logs-')) : '';
  await run('bash', [join(scripts, 'node-cluster.sh'), 'down'], {
    env: { ...process.env, LEASEHOLD_NODE_LOGS_TO: logs },
  });
  await run('bash', [registryScript, 'down']);
  if (logs) process.stderr.write(`[e2e] tests failed; node logs kept in ${logs}\n`);
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
}

setUpAndTearDown(setUp, tearDown);

test('deleting the leader pod hands over gracefully: the standby leads well before the Lease would expire', async () => {
  const namespace = 'e2e-delete';
  await install(namespace, 'ctl');
  const lease = 'ctl-leasehold';
  const first = await waitForHolder(namespace, lease);
  const started = performance.now();
  await kubectl(['-n', namespace, 'delete', 'pod', podOf(first), '--wait=false']);
  // The old holder's last renewal, as the Lease said while it still named it.
  let lastRenewal = '';
  const next = await waitUntil(
    'another holder',
    async () => {
      const spec = await leaseSpec(namespace, lease);
      if (spec.holderIdentity === first) lastRenewal = spec.renewTime ?? lastRenewal;
      return spec.holderIdentity && spec.holderIdentity !== first ? spec : undefined;
    },
    20_000,
    50,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}; ${first} was deleted\n${await describe(namespace)}`);
  });
  process.stdout.write(
    `[e2e] leader pod deleted: another pod led ${Math.round(performance.now() - started)} ms later (polled)\n`,
  );
  // Released on SIGTERM: the next holder acquired before the last renewal's lease would have run out, which
  // a takeover at expiry never can. Both times are written by this machine's clock.
  const acquiredMs = Date.parse(next.acquireTime ?? '');
  const expiresMs = Date.parse(lastRenewal) + leaseDurationMs;
  assert.ok(lastRenewal, 'the old holder was seen renewing');
  assert.ok(
    acquiredMs < expiresMs,
    `acquired at ${next.acquireTime}, the old Lease ran until ${new Date(expiresMs).toISOString()}`,
  );
});

test('kubectl rollout restart: every old leader hands over with no overlap in what the controllers did', async () => {
  const namespace = 'e2e-rollout';
  await install(namespace, 'ctl', [...recording(namespace), '--set', 'replicaCount=3']);
  const mutator = startMutator(namespace);
  await sleep(2 * retryPeriodMs);
  await kubectl(['-n', namespace, 'rollout', 'restart', 'deployment/ctl-leasehold']);
  await kubectl(['-n', namespace, 'rollout', 'status', 'deployment/ctl-leasehold', '--timeout=240s']);
  // `rollout status` returns once the old pods are terminating, not gone: an old leader may still hold the
  // Lease until its controller has stopped. Wait for a pod of the new generation to lead and do work.
  const newLeader = await waitUntil(
    'a pod of the new generation to lead and write',
    async () => {
      const pod = podOf(await holder(namespace, 'ctl-leasehold'));
      const live = (await pods(namespace, 'app.kubernetes.io/instance=ctl')).filter(ready);
      if (!live.some((p) => p.metadata.name === pod)) return undefined;
      const text = await readFile(join(recordDir, `${namespace}-${pod}.jsonl`), 'utf8').catch(() => '');
      return text.includes('"type":"write"') ? pod : undefined;
    },
    leaseDurationMs + 20 * retryPeriodMs,
    100,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await describe(namespace)}`);
  });
  await mutator.stop();

  const { files, report } = await check(namespace);
  assert.deepEqual(report.violations, [], [...report.violations, ...report.details].join('\n'));
  // Only a pod that led writes records: at least the first leader and one after it.
  assert.ok(files.length >= 2, `records from the pods that led: ${files.length} (last: ${newLeader})`);
  assert.ok(report.transitions >= 2, `leadership moved during the rollout: ${report.transitions} terms`);
  assert.ok(report.writes > 0, 'the terms did real work');
});

test('an eviction that would leave no standby is refused by the PodDisruptionBudget', async () => {
  const namespace = 'e2e-pdb';
  await install(namespace, 'ctl');
  const [first, second] = (await pods(namespace, 'app.kubernetes.io/instance=ctl')).map(
    (p) => p.metadata.name,
  ) as [string, string];
  const evict = async (pod: string) => {
    const file = join(recordDir, `eviction-${pod}.json`);
    await writeFile(
      file,
      JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace } }),
    );
    return kubectl([
      'create',
      '--raw',
      `/api/v1/namespaces/${namespace}/pods/${pod}/eviction`,
      '-f',
      file,
    ]).then(
      () => 'evicted',
      (err: { stderr?: string }) => String(err.stderr),
    );
  };
  assert.equal(await evict(first), 'evicted');
  assert.match(
    await evict(second),
    /Cannot evict pod as it would violate the pod's disruption budget|TooManyRequests|429/,
  );
});

test('the sidecar process killed inside its pod: the kubelet restarts it and leadership recovers', async () => {
  const namespace = 'e2e-crash';
  await install(namespace, 'ctl');
  const lease = 'ctl-leasehold';
  const leader = await waitForHolder(namespace, lease);
  const pod = (await pods(namespace, 'app.kubernetes.io/instance=ctl')).find(
    (p) => p.metadata.name === podOf(leader),
  ) as Pod;
  const sidecar = pod.status.initContainerStatuses?.find((c) => c.name === 'leasehold');
  assert.ok(sidecar?.containerID, 'the sidecar runs as a native sidecar (an init container)');
  const id = sidecar.containerID.replace(/^containerd:\/\//, '');
  const socket = join(kubeconfig, '..', 'containerd', 'containerd.sock');
  await run('ctr', ['--address', socket, '-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', id]);
  const restarted = await waitUntil(
    'the kubelet to restart the sidecar',
    async () => {
      const now = (await pods(namespace, 'app.kubernetes.io/instance=ctl')).find(
        (p) => p.metadata.name === podOf(leader),
      );
      const status = now?.status.initContainerStatuses?.find((c) => c.name === 'leasehold');
      return status && status.restartCount > sidecar.restartCount && now && ready(now) ? status : undefined;
    },
    60_000,
    250,
  );
  assert.ok(restarted.restartCount > sidecar.restartCount);
  // Someone leads again and keeps renewing.
  const renewTime = () =>
    kubectl([
      '-n',
      namespace,
      'get',
      'lease',
      lease,
      '-o',
      'jsonpath={.spec.holderIdentity} {.spec.renewTime}',
    ]);
  const first = await renewTime();
  await waitUntil(
    'a renewal by a live holder',
    async () => {
      const now = await renewTime();
      return now !== first && !now.startsWith(' ') ? now : undefined;
    },
    4 * 4_000,
    200,
  );
});

test('helm uninstall leaves no object of the chart behind, and nothing renews the Lease after it', async () => {
  const namespace = 'e2e-uninstall';
  await install(namespace, 'ctl');
  await helm(['uninstall', 'ctl', '--namespace', namespace, '--wait', '--timeout', '120s']);
  await waitUntil(
    'the pods to go',
    async () => ((await pods(namespace, 'app.kubernetes.io/instance=ctl')).length === 0 ? true : undefined),
    60_000,
    250,
  );
  const left = await kubectl([
    '-n',
    namespace,
    'get',
    'deploy,rs,pods,svc,sa,role,rolebinding,pdb,cm,secrets',
    '-o',
    'name',
  ]);
  const ours = left
    .split('\n')
    .filter((n) => n && !/serviceaccount\/default$|configmap\/kube-root-ca.crt$/.test(n));
  assert.deepEqual(ours, []);
  // Helm deletes the Role and the ServiceAccount while the pods still stop, so the last leader's release
  // may be refused (403); then the record just expires (docs/operations.md). Either way nobody renews it.
  const record = () =>
    kubectl(['-n', namespace, 'get', 'lease', 'ctl-leasehold', '-o', 'jsonpath={.spec.renewTime}']);
  const last = await record();
  await sleep(leaseDurationMs + retryPeriodMs);
  assert.equal(await record(), last, 'no replica is left to renew the Lease');
});

test('a `helm create` chart given the sidecar by following docs/adding-to-your-controller.md runs on real pods and elects one of them', async () => {
  const namespace = 'e2e-library';
  await kubectl(['create', 'namespace', namespace]);
  await kubectl(['label', 'namespace', namespace, 'leasehold.io/test-run=e2e']);
  const chart = await helmCreateChartFromDoc(await workspace('e2e-helm-create'), 'billing-operator');
  const [repository, tag] = sidecarImage.split(/:(?=[^:]+$)/) as [string, string];
  const [userRepository, userTag] = pauseImage.split(/:(?=[^:]+$)/) as [string, string];
  await helm([
    'install',
    'billing',
    chart,
    '--namespace',
    namespace,
    '--wait',
    '--timeout',
    '180s',
    '--set',
    'replicaCount=2',
    // The user's controller is a stand-in that only waits (helm create's nginx is not in this node's
    // image store, and its HTTP probes would fail): the sidecar is what is under test.
    '--set',
    `image.repository=${userRepository}`,
    '--set',
    `image.tag=${userTag}`,
    '--set',
    'livenessProbe=null',
    '--set',
    'readinessProbe=null',
    '--set',
    `leasehold.image.repository=${repository}`,
    '--set',
    `leasehold.image.tag=${tag}`,
  ]);
  const all = await pods(namespace, 'app.kubernetes.io/instance=billing');
  assert.equal(all.filter(ready).length, 2);
  const elected = await waitForHolder(namespace, 'billing-leader', 20_000);
  assert.ok(
    all.some((p) => p.metadata.name === podOf(elected)),
    `${elected} is one of the pods`,
  );
  await helm(['uninstall', 'billing', '--namespace', namespace, '--wait']);
});

test("the README's Install commands as written, on the local registry: helm install from oci://, images pulled, helm test passes", async () => {
  const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const lines = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => (m[1] as string).split('\n'));
  const general = lines.find((l) => l.startsWith('helm install ctl oci://<registry>/'));
  const local = lines.find((l) => l.startsWith('helm install ctl oci://127.0.0.1:15000/'));
  const helmTest = lines.find((l) => l.startsWith('helm test ctl'))?.replace(/\s+#.*$/, '');
  assert.ok(general && local && helmTest, 'the README has both install commands and helm test');
  const registry = (target as ReleaseTarget).registry;
  // One command: the general form with the local registry, over plain HTTP.
  assert.equal(`${general.replace('<registry>', '127.0.0.1:15000/leasehold')} --plain-http`, local);
  assert.match(
    local,
    new RegExp(`--version ${(target as ReleaseTarget).version.replaceAll('.', '\\.')} `),
    'the README names this version',
  );
  const env = {
    KUBECONFIG: kubeconfig,
    PATH: await toolPath(await mkdtemp(join(tmpdir(), 'leasehold-e2e-readme-'))),
  };
  const asWritten = (line: string) => line.replaceAll('127.0.0.1:15000/leasehold', registry);
  releases.push({ namespace: 'ctl', release: 'ctl' });
  await runBlock(asWritten(local), tmpdir(), env);
  const all = await pods('ctl', 'app.kubernetes.io/instance=ctl');
  assert.equal(all.filter(ready).length, 2);
  const images = all.flatMap((p) => [
    ...(p.status.initContainerStatuses ?? []),
    ...(p.status.containerStatuses ?? []),
  ]);
  assert.deepEqual([...new Set(images.map((c) => c.image))].sort(), [controllerImage, sidecarImage].sort());
  const { stdout } = await runBlock(helmTest, tmpdir(), env);
  assert.match(stdout, /Phase:\s+Succeeded/);
});

test('a sharded release on real pods (8 shards, 3 replicas): balanced through a pod deletion, a rollout and 3 → 1 → 3, no shard acted on twice, helm test passes', async () => {
  const namespace = 'e2e-sharded';
  const release = 'sh';
  const shards = 8;
  await install(namespace, release, [
    ...recording(namespace),
    '--set',
    'replicaCount=3',
    '--set',
    `sidecar.shards=${shards}`,
  ]);
  const mutator = startMutator(namespace, 16);
  const lease = (i: number) => `sh-leasehold-${i}`;
  /** Shards per ready pod, once every shard's holder is a ready pod and the shares are within one of fair. */
  const balanced = (replicas: number) =>
    waitUntil(
      `${replicas} pods sharing ${shards} shards fairly`,
      async () => {
        const readyPods = (await pods(namespace, `app.kubernetes.io/instance=${release}`))
          .filter((p) => ready(p) && !p.metadata.deletionTimestamp)
          .map((p) => p.metadata.name);
        if (readyPods.length !== replicas) return undefined;
        const holders = await Promise.all(
          Array.from({ length: shards }, async (_, i) => podOf(await holder(namespace, lease(i)))),
        );
        const counts = new Map(readyPods.map((name) => [name, holders.filter((h) => h === name).length]));
        const fair = shards / replicas;
        const fairly = [...counts.values()].every((c) => Math.abs(c - fair) < 1);
        return fairly && [...counts.values()].reduce((a, b) => a + b, 0) === shards ? counts : undefined;
      },
      leaseDurationMs * 12,
      250,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await describe(namespace)}`);
    });
  const scale = async (replicas: number) => {
    await kubectl(['-n', namespace, 'scale', 'deployment/sh-leasehold', `--replicas=${replicas}`]);
    return balanced(replicas);
  };

  const shares = await balanced(3);
  assert.deepEqual([...shares.values()].sort(), [2, 3, 3]);
  const busiest = [...shares.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] as string;
  await kubectl(['-n', namespace, 'delete', 'pod', busiest, '--wait=false']);
  await balanced(3);
  await kubectl(['-n', namespace, 'rollout', 'restart', 'deployment/sh-leasehold']);
  await kubectl(['-n', namespace, 'rollout', 'status', 'deployment/sh-leasehold', '--timeout=240s']);
  await balanced(3);
  await scale(1);
  await scale(3);
  await mutator.stop();

  const { report } = await check(namespace);
  assert.deepEqual(report.violations, [], [...report.violations, ...report.details].join('\n'));
  assert.ok(report.transitions >= shards * 2, `shards moved: ${report.transitions} terms`);
  assert.ok(report.writes > 0, 'the terms did real work');
  assert.equal(await holder(namespace, 'sh-leasehold'), '', 'no Lease of the unsharded name is written');
  const { stdout } = await helm(['test', release, '--namespace', namespace, '--logs']);
  assert.match(stdout, /Phase:\s+Succeeded/);
  for (let i = 0; i < shards; i++)
    assert.match(stdout, new RegExp(`Lease ${lease(i)} held by sh-leasehold-`));
});

test("fencing.enabled on real pods: the example controller keeps working, and a write with the standby pod's token is refused naming the holder", async () => {
  const namespace = 'e2e-fenced';
  const doc = await readFile(fileURLToPath(new URL('../../docs/fencing.md', import.meta.url)), 'utf8');
  const resources = /--set-json 'fencing\.resources=(\[.*\])'/.exec(doc)?.[1] as string;
  await install(namespace, 'fc', [
    '--set',
    'fencing.enabled=true',
    '--set-json',
    `fencing.resources=${resources}`,
  ]);
  const leader = podOf(await waitForHolder(namespace, 'fc-leasehold'));
  // The leader's controller still reconciles: a source gets its derived ConfigMap.
  await kubectl(['-n', namespace, 'create', 'configmap', 'fenced-source', '--from-literal=k=v']);
  await kubectl(['-n', namespace, 'label', 'configmap', 'fenced-source', 'leasehold.io/source=true']);
  await waitUntil(
    'the derived ConfigMap',
    async () =>
      (await kubectl(['-n', namespace, 'get', 'configmap', 'fenced-source-derived']).catch(() => '')) ||
      undefined,
    leaseDurationMs * 4,
    200,
  );
  const standby = (await pods(namespace, 'app.kubernetes.io/instance=fc'))
    .map((p) => p.metadata.name)
    .find((name) => name !== leader) as string;
  /** `kubectl create configmap NAME` with a token of the release's ServiceAccount bound to `pod`. */
  const writeAs = async (pod: string, name: string) => {
    const token = (
      await kubectl([
        '-n',
        namespace,
        'create',
        'token',
        'fc-leasehold',
        '--bound-object-kind',
        'Pod',
        '--bound-object-name',
        pod,
      ])
    ).trim();
    const config = join(recordDir, `fenced-${pod}.kubeconfig`);
    await writeFile(config, await readFile(kubeconfig, 'utf8'));
    const { kubectl: binary } = await controlPlaneBinaries();
    await run(binary, ['--kubeconfig', config, 'config', 'set-credentials', 'fenced', `--token=${token}`]);
    return run(binary, [
      '--kubeconfig',
      config,
      '--user',
      'fenced',
      '-n',
      namespace,
      'create',
      'configmap',
      name,
    ]).then(
      () => '',
      (err: { stderr: string }) => err.stderr,
    );
  };
  const refused = await writeAs(standby, 'from-standby');
  assert.match(
    refused,
    new RegExp(`pod ${standby} does not hold Lease ${namespace}/fc-leasehold \\(holder: ${leader}_`),
  );
  assert.equal(await writeAs(leader, 'from-leader'), '', 'the holder may write');
});

// Last: after a `kubectl port-forward` session into a pod was closed, this node's containerd 1.6 was seen
// to stop delivering SIGTERM to other pods' containers (they ran to the end of their grace period).
test('helm install --wait: both pods Ready; /leader through kubectl port-forward names the leader pod; helm test passes', async (t) => {
  const namespace = 'e2e-install';
  await install(namespace, 'ctl');
  const selector = 'app.kubernetes.io/instance=ctl';
  const all = await pods(namespace, selector);
  assert.equal(all.filter(ready).length, 2);
  // Both images came from the registry: containerd pulled them, and says from where.
  const pulled = all.flatMap((p) => [
    ...(p.status.initContainerStatuses ?? []),
    ...(p.status.containerStatuses ?? []),
  ]);
  for (const image of [sidecarImage, controllerImage]) {
    const statuses = pulled.filter((c) => c.image === image);
    assert.equal(statuses.length, 2, `both pods run ${image}: ${JSON.stringify(pulled.map((c) => c.image))}`);
    const repository = image.replace(/:[^:/]+$/, '');
    for (const c of statuses)
      assert.match(c.imageID ?? '', new RegExp(`^${repository.replaceAll('.', '\\.')}@sha256:[0-9a-f]{64}$`));
  }
  process.stdout.write(
    `[e2e] pulled from the registry: ${[...new Set(pulled.map((c) => c.imageID))].join(', ')}\n`,
  );

  // The documented debug path: port-forward to the Deployment, then curl /leader.
  const forward: ChildProcess = spawn((await controlPlaneBinaries()).kubectl, [
    '--kubeconfig',
    kubeconfig,
    '-n',
    namespace,
    'port-forward',
    'deploy/ctl-leasehold',
    ':4040',
  ]);
  t.after(() => forward.kill());
  const localPort = await new Promise<number>((resolve, reject) => {
    forward.stdout?.on('data', (chunk: Buffer) => {
      const port = /127\.0\.0\.1:(\d+)/.exec(chunk.toString())?.[1];
      if (port) resolve(Number(port));
    });
    forward.once('exit', (code) => reject(new Error(`kubectl port-forward exited ${code}`)));
  });
  const answer = await waitUntil(
    'a leader named on /leader',
    async () => {
      const body = (await (await fetch(`http://127.0.0.1:${localPort}/leader`)).json()) as {
        holder?: string;
      };
      return body.holder ? body : undefined;
    },
    10_000,
    200,
  );
  const names = all.map((p) => p.metadata.name);
  assert.ok(names.includes(podOf(answer.holder as string)), `${answer.holder} is one of ${names.join(', ')}`);
  assert.equal(await holder(namespace, 'ctl-leasehold'), answer.holder);
  const labelled = await waitUntil(
    'the leader pod labelled',
    async () => (await pods(namespace, `${selector},leasehold.io/role=leader`))[0]?.metadata.name,
    10_000,
    200,
  );
  assert.equal(labelled, podOf(answer.holder as string));

  const { stdout } = await helm(['test', 'ctl', '--namespace', namespace, '--logs']);
  assert.match(stdout, /Phase:\s+Succeeded/);
  assert.match(stdout, new RegExp(`held by ${answer.holder}|held by ctl-leasehold-`));
});
