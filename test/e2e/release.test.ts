// `npm run release` as a maintainer runs it, on a clean commit of this repository (a git worktree of
// HEAD) against a registry of its own: what it writes verifies and agrees on one version, what it
// pushes installs by name, and each refusal leaves the output directory and the registry as they were.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { controlPlaneBinaries } from '../cluster/binaries.ts';
import { artifactNames } from '../release/main.ts';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const registryScript = fileURLToPath(new URL('../cluster/registry/registry.sh', import.meta.url));
// Its own address: the pods suite's registry is not touched.
const address = '127.0.0.1:15100';
const registry = `${address}/leasehold`;
const registryEnv = { ...process.env, LEASEHOLD_REGISTRY: address };
let dir = '';
let worktree = '';
let version = '';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm run release -- ARGS` in the worktree. */
async function release(args: string[]): Promise<Outcome> {
  return run('npm', ['run', '--silent', 'release', '--', ...args], {
    cwd: worktree,
    maxBuffer: 16 << 20,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      stdout: err.stdout,
      stderr: err.stderr,
    }),
  );
}

const catalog = async () =>
  ((await (await fetch(`http://${address}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
const tarFile = async (archive: string, member: string, gzip = true) =>
  (await run('tar', [gzip ? '-xzOf' : '-xOf', archive, member], { maxBuffer: 64 << 20, encoding: 'buffer' }))
    .stdout;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'leasehold-release-'));
  worktree = join(dir, 'checkout');
  await run('git', ['worktree', 'add', '--detach', worktree, 'HEAD'], { cwd: repo });
  // The installed dependencies, as `npm install` would lay them out (gitignored, so not in the worktree).
  await symlink(join(repo, 'node_modules'), join(worktree, 'node_modules'));
  version = JSON.parse(await readFile(join(worktree, 'package.json'), 'utf8')).version;
  await run('bash', [registryScript, 'up'], { env: registryEnv });
});

after(async () => {
  await run('bash', [registryScript, 'down'], { env: registryEnv }).catch(() => {});
  if (worktree) await run('git', ['worktree', 'remove', '--force', worktree], { cwd: repo }).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('refusals change nothing: uncommitted changes, version fields that disagree, a registry that is down', async () => {
  const out = join(dir, 'refused');
  await writeFile(join(worktree, 'notes.txt'), 'not committed\n');
  const dirty = await release(['--out', out, '--registry', registry, '--push']);
  assert.equal(dirty.code, 1);
  assert.match(dirty.stderr, /LEASEHOLD_RELEASE_DIRTY: .*\n\s+\?\? notes\.txt/);
  await rm(join(worktree, 'notes.txt'));

  const lib = join(worktree, 'chart/leasehold-lib/Chart.yaml');
  const chart = await readFile(lib, 'utf8');
  await writeFile(lib, chart.replace(/^version: .*$/m, 'version: 9.9.9'));
  const drift = await release(['--out', out, '--registry', registry, '--push']);
  assert.equal(drift.code, 1);
  assert.match(
    drift.stderr,
    new RegExp(
      `LEASEHOLD_RELEASE_VERSION_MISMATCH.*\\n\\s+- chart/leasehold-lib/Chart.yaml version is 9\\.9\\.9, the release is ${version.replaceAll('.', '\\.')}`,
    ),
  );
  // The app chart's dependency must name the library's version too.
  await writeFile(lib, chart);
  const app = join(worktree, 'chart/leasehold/Chart.yaml');
  const appChart = await readFile(app, 'utf8');
  await writeFile(app, appChart.replace(/(- name: leasehold-lib\n\s+version: ).*/, '$19.9.9'));
  const dependency = await release(['--out', out, '--registry', registry]);
  assert.match(dependency.stderr, /dependencies\[leasehold-lib\]\.version is 9\.9\.9/);
  await writeFile(app, appChart);

  const down = await release(['--out', out, '--registry', '127.0.0.1:15199/leasehold', '--push']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /LEASEHOLD_RELEASE_REGISTRY_DOWN: .*127\.0\.0\.1:15199 answered nothing/);
  assert.deepEqual(await readdir(out).catch(() => []), [], 'no output directory was made');
  assert.deepEqual(await catalog(), [], 'nothing was pushed');
});

test('a release writes every artifact with verifying checksums; npm versions = chart appVersion = image tags; pushed charts install by name', async () => {
  const out = join(dir, 'out');
  const made = await release(['--out', out, '--registry', registry, '--push']);
  assert.equal(made.code, 0, made.stderr);
  process.stdout.write(`[release] ${made.stdout.trim().split('\n').join('\n[release] ')}\n`);
  assert.deepEqual((await readdir(out)).sort(), artifactNames(version).sort());

  const sums = (await readFile(join(out, 'SHA256SUMS'), 'utf8')).trim().split('\n');
  assert.equal(sums.length, artifactNames(version).length - 1, 'every artifact but SHA256SUMS itself');
  for (const line of sums) {
    const [sum, name] = line.split(/\s+/) as [string, string];
    const actual = createHash('sha256')
      .update(await readFile(join(out, name)))
      .digest('hex');
    assert.equal(actual, sum, name);
  }

  const versions: Record<string, string> = {};
  for (const name of ['controller', 'sidecar'])
    versions[`npm ${name}`] = JSON.parse(
      (await tarFile(join(out, `leasehold-${name}-${version}.tgz`), 'package/package.json')).toString(),
    ).version;
  for (const name of ['leasehold', 'leasehold-lib']) {
    const chart = (await tarFile(join(out, `${name}-${version}.tgz`), `${name}/Chart.yaml`)).toString();
    versions[`chart ${name} version`] = /^version: (\S+)$/m.exec(chart)?.[1] ?? '';
    versions[`chart ${name} appVersion`] = /^appVersion: "?([^"\s]+)"?$/m.exec(chart)?.[1] ?? '';
    if (name === 'leasehold')
      assert.match(
        chart,
        new RegExp(
          `- name: leasehold-lib\\n\\s+repository: oci://${registry.replaceAll('.', '\\.')}/charts\\n\\s+version: ${version.replaceAll('.', '\\.')}`,
        ),
        'the dependency resolves from the registry',
      );
  }
  for (const name of ['sidecar', 'example-controller']) {
    const archive = join(out, `leasehold-${name}-${version}.oci.tar`);
    const index = JSON.parse((await tarFile(archive, 'index.json', false)).toString()) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    const ref = index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'] ?? '';
    versions[`image ${name} tag`] = ref.replace(/^.*:/, '');
    const blob = (digest: string) => tarFile(archive, `blobs/sha256/${digest.replace('sha256:', '')}`, false);
    const manifest = JSON.parse((await blob(index.manifests[0]?.digest ?? '')).toString()) as {
      config: { digest: string };
    };
    const config = JSON.parse((await blob(manifest.config.digest)).toString()) as {
      config: { User?: string; Labels?: Record<string, string> };
    };
    versions[`image ${name} label`] = config.config.Labels?.['org.opencontainers.image.version'] ?? '';
    const head = (await run('git', ['rev-parse', 'HEAD'], { cwd: worktree })).stdout.trim();
    assert.equal(
      config.config.Labels?.['org.opencontainers.image.revision'],
      head,
      `${name}: labelled with the commit`,
    );
    assert.equal(config.config.User, '65532:65532', `${name}: runs as non-root`);
  }
  assert.deepEqual(new Set(Object.values(versions)), new Set([version]), JSON.stringify(versions));

  const { helm } = await controlPlaneBinaries();
  const { stdout: shown } = await run(helm, [
    'show',
    'chart',
    `oci://${registry}/charts/leasehold`,
    '--version',
    version,
    '--plain-http',
  ]);
  assert.match(shown, new RegExp(`^appVersion: "?${version.replaceAll('.', '\\.')}"?$`, 'm'));
  const { stdout: rendered } = await run(helm, [
    'template',
    'ctl',
    `oci://${registry}/charts/leasehold`,
    '--version',
    version,
    '--plain-http',
  ]);
  for (const name of ['sidecar', 'example-controller'])
    assert.ok(
      rendered.includes(`image: "${registry}/${name}:${version}"`),
      `the chart runs ${registry}/${name}:${version}`,
    );
  assert.deepEqual(
    (await catalog()).sort(),
    ['charts/leasehold', 'charts/leasehold-lib', 'example-controller', 'pause', 'sidecar'].map(
      (r) => `leasehold/${r}`,
    ),
  );

  // The same version again: refused before anything is written, in a new directory or the same one.
  const again = await release(['--out', join(dir, 'again'), '--registry', registry, '--push']);
  assert.equal(again.code, 1);
  assert.match(
    again.stderr,
    new RegExp(
      `LEASEHOLD_RELEASE_VERSION_EXISTS: .*${registry.replaceAll('.', '\\.')}/charts/leasehold-lib:`,
    ),
  );
  assert.deepEqual(await readdir(join(dir, 'again')).catch(() => []), []);
  const same = await release(['--out', out, '--registry', registry]);
  assert.match(same.stderr, /LEASEHOLD_RELEASE_OUT_EXISTS/);
});
