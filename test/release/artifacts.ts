// Builds the release artifacts into one directory: both npm tarballs, both chart packages (the app
// chart's dependency on the library chart named by its registry, not a path; image repositories
// stamped with the registry), both images as OCI archives; with `push`, charts and images go to the
// registry too, the library chart first so that the app chart's dependency is resolved from there.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { controlPlaneBinaries } from '../cluster/binaries.ts';
import { pack } from '../support/packages.ts';
import { ReleaseError } from './errors.ts';
import { repoRoot } from './versions.ts';

const run = promisify(execFile);

export interface ReleaseTarget {
  version: string;
  /** Where images and charts are named and pushed: `host[:port]/prefix`, e.g. ghcr.io/leasehold. */
  registry: string;
  /** Plain HTTP to the registry (a loopback registry has no TLS). */
  plainHttp: boolean;
  push: boolean;
}

export const chartRepository = (t: ReleaseTarget) => `oci://${t.registry}/charts`;
const registryHost = (t: ReleaseTarget) => t.registry.split('/')[0] as string;
const plain = (t: ReleaseTarget) => (t.plainHttp ? ['--plain-http'] : []);

async function helm(args: string[]): Promise<string> {
  const { helm: binary } = await controlPlaneBinaries();
  const { stdout } = await run(binary, args, { maxBuffer: 16 << 20 }).catch((err: { stderr?: string }) => {
    throw new ReleaseError(
      'LEASEHOLD_RELEASE_HELM',
      `helm ${args[0]}: ${(err.stderr ?? String(err)).trim()}`,
    );
  });
  return stdout;
}

/** GET on the registry's API: the status, or 0 when it does not answer. */
async function registryStatus(t: ReleaseTarget, path: string): Promise<{ status: number; body: string }> {
  const url = `${t.plainHttp ? 'http' : 'https'}://${registryHost(t)}/v2/${path}`;
  return fetch(url, { signal: AbortSignal.timeout(3_000) }).then(
    async (r) => ({ status: r.status, body: await r.text() }),
    () => ({ status: 0, body: '' }),
  );
}

/** Refuses a push the registry cannot take: down, or the version already there. */
export async function checkRegistry(t: ReleaseTarget): Promise<void> {
  const { status } = await registryStatus(t, '');
  if (status !== 200 && status !== 401)
    throw new ReleaseError(
      'LEASEHOLD_RELEASE_REGISTRY_DOWN',
      `${registryHost(t)} answered ${status || 'nothing'}`,
    );
  const prefix = t.registry.slice(registryHost(t).length + 1);
  for (const repository of ['charts/leasehold-lib', 'charts/leasehold', 'sidecar', 'example-controller']) {
    const tags = await registryStatus(t, `${prefix}/${repository}/tags/list`);
    const listed = tags.status === 200 ? ((JSON.parse(tags.body) as { tags?: string[] }).tags ?? []) : [];
    if (listed.includes(t.version))
      throw new ReleaseError('LEASEHOLD_RELEASE_VERSION_EXISTS', `${t.registry}/${repository}:${t.version}`);
  }
}

const replaceLine = (source: string, pattern: RegExp, value: string) => {
  if (!pattern.test(source)) throw new ReleaseError('LEASEHOLD_RELEASE_VERSION_MISMATCH', `no ${pattern}`);
  return source.replace(pattern, value);
};

/** Copies both charts into a staging directory with the release's version, registry and images. */
async function stageCharts(t: ReleaseTarget, stage: string): Promise<{ lib: string; app: string }> {
  const lib = join(stage, 'leasehold-lib');
  const app = join(stage, 'leasehold');
  const skip = (source: string) => !/\/(charts|Chart\.lock)$/.test(source) && !source.includes('/charts/');
  await cp(join(repoRoot, 'chart/leasehold-lib'), lib, { recursive: true, filter: skip });
  await cp(join(repoRoot, 'chart/leasehold'), app, { recursive: true, filter: skip });
  const edit = async (file: string, change: (s: string) => string) =>
    writeFile(file, change(await readFile(file, 'utf8')));
  const images = (s: string) => s.replaceAll('ghcr.io/leasehold/', `${t.registry}/`);
  const versions = (s: string) =>
    replaceLine(
      replaceLine(s, /^version: .*$/m, `version: ${t.version}`),
      /^appVersion: .*$/m,
      `appVersion: "${t.version}"`,
    );
  await edit(join(lib, 'Chart.yaml'), versions);
  await edit(join(lib, 'values.yaml'), images);
  await edit(join(lib, 'templates/_settings.tpl'), images);
  await edit(join(app, 'values.yaml'), images);
  await edit(join(app, 'Chart.yaml'), (s) =>
    replaceLine(
      versions(s),
      /- name: leasehold-lib\n(\s+)version: .*\n\s+repository: .*/,
      `- name: leasehold-lib\n$1version: ${t.version}\n$1repository: ${chartRepository(t)}`,
    ),
  );
  return { lib, app };
}

/** Both charts packaged into `out` (and pushed with `push`); their paths. */
export async function packageCharts(t: ReleaseTarget, out: string): Promise<string[]> {
  const stage = await mkdtemp(join(tmpdir(), 'leasehold-release-charts-'));
  try {
    const { lib, app } = await stageCharts(t, stage);
    await helm(['package', lib, '--destination', out]);
    const libPackage = join(out, `leasehold-lib-${t.version}.tgz`);
    if (t.push) {
      await helm(['push', libPackage, chartRepository(t), ...plain(t)]);
      // The user's path: the dependency comes from the registry, and Chart.lock names it there.
      await helm(['dependency', 'update', app, ...plain(t)]);
    } else {
      await mkdir(join(app, 'charts'));
      await cp(libPackage, join(app, 'charts', basename(libPackage)));
    }
    await helm(['package', app, '--destination', out]);
    const appPackage = join(out, `leasehold-${t.version}.tgz`);
    if (t.push) await helm(['push', appPackage, chartRepository(t), ...plain(t)]);
    return [libPackage, appPackage];
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Both npm packages packed into `out` (as the packages test packs them); their paths. */
export async function packNpm(out: string): Promise<string[]> {
  return (await pack(['controller', 'sidecar'], out)).map((p) => p.tarball);
}

/** Both images built (buildah), saved as OCI archives in `out` (and pushed with `push`); archives and refs. */
export async function buildImages(
  t: ReleaseTarget,
  out: string,
): Promise<{ archives: string[]; refs: string[] }> {
  const work = await mkdtemp(join(tmpdir(), 'leasehold-release-images-'));
  try {
    const { stdout } = await run('bash', [join(repoRoot, 'test/cluster/node/images.sh')], {
      env: {
        ...process.env,
        LEASEHOLD_IMAGE_REGISTRY: t.registry,
        LEASEHOLD_IMAGE_OUT: work,
        LEASEHOLD_IMAGE_PUSH: t.push ? '1' : '0',
      },
      maxBuffer: 16 << 20,
    }).catch((err: { stderr?: string }) => {
      const detail = (err.stderr ?? String(err)).trim().split('\n').slice(-5).join('\n');
      const code = /refused|not serving/.test(detail)
        ? 'LEASEHOLD_RELEASE_PUSH_REFUSED'
        : 'LEASEHOLD_RELEASE_IMAGES';
      throw new ReleaseError(code, detail);
    });
    const refs = stdout
      .trim()
      .split('\n')
      .filter((ref) => !ref.includes('/pause:'));
    const archives: string[] = [];
    for (const name of ['sidecar', 'example-controller']) {
      const archive = join(out, `leasehold-${name}-${t.version}.oci.tar`);
      await rename(join(work, `${name}.tar`), archive).catch(async () => {
        await cp(join(work, `${name}.tar`), archive);
      });
      archives.push(archive);
    }
    return { archives, refs };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
