// npm run release -- --out DIR [--registry HOST/PREFIX] [--push] [--plain-http]
// Writes one release into DIR: both npm tarballs, both chart packages, both images as OCI archives,
// the CHANGELOG.md entry of the version and SHA256SUMS over all of them. --registry (default
// ghcr.io/leasehold) names images `<registry>/<name>:<version>` and charts `oci://<registry>/charts/<name>`;
// --push also pushes them there. Refuses, before writing or pushing anything: version fields that
// disagree, uncommitted changes, no CHANGELOG entry, artifacts already in DIR, a registry that is down or
// already has the version.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  buildImages,
  chartRepository,
  checkRegistry,
  packageCharts,
  packNpm,
  type ReleaseTarget,
} from './artifacts.ts';
import { ReleaseError } from './errors.ts';
import { repoRoot, versionDrift, versionFields } from './versions.ts';

const run = promisify(execFile);

/** The CHANGELOG.md section of `version` (from its heading to the next), or undefined. */
export function changelogEntry(changelog: string, version: string): string | undefined {
  const heading = new RegExp(`^## \\[?${version.replaceAll('.', '\\.')}\\]?(?: |$).*$`, 'm');
  const match = heading.exec(changelog);
  if (!match) return undefined;
  const rest = changelog.slice(match.index + match[0].length);
  const next = rest.search(/^## /m);
  return `${match[0]}${next < 0 ? rest : rest.slice(0, next)}`.trimEnd() + '\n';
}

/** The file names a release of `version` writes. */
export function artifactNames(version: string): string[] {
  return [
    `leasehold-controller-${version}.tgz`,
    `leasehold-sidecar-${version}.tgz`,
    `leasehold-lib-${version}.tgz`,
    `leasehold-${version}.tgz`,
    `leasehold-sidecar-${version}.oci.tar`,
    `leasehold-example-controller-${version}.oci.tar`,
    `CHANGELOG-${version}.md`,
    'SHA256SUMS',
  ];
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

export async function release(
  argv: string[],
): Promise<{ out: string; files: string[]; target: ReleaseTarget }> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        registry: { type: 'string', default: 'ghcr.io/leasehold' },
        push: { type: 'boolean', default: false },
        'plain-http': { type: 'boolean' },
      },
    });
  }
  try {
    parsed = parse();
  } catch (err) {
    throw new ReleaseError('LEASEHOLD_RELEASE_USAGE', (err as Error).message);
  }
  const { values } = parsed;
  if (!values.out) throw new ReleaseError('LEASEHOLD_RELEASE_USAGE', '--out is required');
  if (!/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/.test(values.registry))
    throw new ReleaseError(
      'LEASEHOLD_RELEASE_USAGE',
      `--registry must be HOST[:PORT]/PREFIX, got "${values.registry}"`,
    );
  const out = resolve(values.out);
  const { version, fields } = await versionFields();
  const drift = versionDrift(version, fields);
  if (drift.length)
    throw new ReleaseError('LEASEHOLD_RELEASE_VERSION_MISMATCH', `\n  - ${drift.join('\n  - ')}`);
  const { stdout: status } = await run('git', ['status', '--porcelain'], { cwd: repoRoot });
  if (status.trim()) {
    const files = status.trimEnd().split('\n');
    throw new ReleaseError(
      'LEASEHOLD_RELEASE_DIRTY',
      `\n  ${files.slice(0, 10).join('\n  ')}${files.length > 10 ? '\n  …' : ''}`,
    );
  }
  const entry = changelogEntry(await readFile(join(repoRoot, 'CHANGELOG.md'), 'utf8'), version);
  if (!entry) throw new ReleaseError('LEASEHOLD_RELEASE_NO_CHANGELOG', `no "## ${version}" heading`);
  const present = await readdir(out).catch(() => [] as string[]);
  const clash = artifactNames(version).filter((name) => present.includes(name));
  if (clash.length) throw new ReleaseError('LEASEHOLD_RELEASE_OUT_EXISTS', `${out}: ${clash.join(', ')}`);
  const host = values.registry.split('/')[0] as string;
  const target: ReleaseTarget = {
    version,
    registry: values.registry,
    plainHttp: values['plain-http'] ?? /^(127\.0\.0\.1|localhost)(:|$)/.test(host),
    push: values.push,
  };
  if (target.push) await checkRegistry(target);

  // Everything is made in a directory beside DIR and moved in at the end: a failed release leaves DIR as it was.
  await mkdir(dirname(out), { recursive: true });
  const work = await mkdtemp(join(dirname(out), `.${basename(out)}-release-`));
  try {
    const made = [...(await packNpm(work)), ...(await packageCharts(target, work))];
    const { archives } = await buildImages(target, work);
    made.push(...archives);
    const changelog = join(work, `CHANGELOG-${version}.md`);
    await writeFile(changelog, entry);
    made.push(changelog);
    const sums = await Promise.all(made.map(async (f) => `${await sha256(f)}  ${basename(f)}`));
    await writeFile(join(work, 'SHA256SUMS'), `${sums.join('\n')}\n`);
    made.push(join(work, 'SHA256SUMS'));
    await mkdir(out, { recursive: true });
    for (const file of made) await rename(file, join(out, basename(file)));
    return { out, files: made.map((f) => join(out, basename(f))), target };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const started = performance.now();
  try {
    const { out, files, target } = await release(process.argv.slice(2));
    for (const file of files)
      process.stdout.write(`${((await stat(file)).size / 1024).toFixed(0).padStart(8)} KiB  ${file}\n`);
    process.stdout.write(
      `release ${target.version} in ${out} (${((performance.now() - started) / 1000).toFixed(0)} s)` +
        (target.push
          ? `; pushed: helm install ctl ${chartRepository(target)}/leasehold --version ${target.version}\n`
          : '\n'),
    );
  } catch (err) {
    if (!(err instanceof ReleaseError)) throw err;
    process.stderr.write(`release: ${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  }
}
