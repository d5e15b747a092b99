// The packages as a user gets them: `npm pack` of our workspaces, a project outside the repository
// that installs the tarballs (from a scoped npm registry on loopback, as `npm install <name>` does), and
// the oldest Node the packages' `engines` allow, from the npm `node` package, cached outside the repo.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const cache =
  process.env.LEASEHOLD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'leasehold');

export interface PackedPackage {
  name: string;
  version: string;
  tarball: string;
  size: number;
  unpackedSize: number;
  files: string[];
  manifest: Record<string, unknown>;
}

/** `npm pack` of the workspaces in `dirs` (repo-relative) into `out`; prepack scripts build them first. */
export async function pack(dirs: string[], out: string): Promise<PackedPackage[]> {
  const manifests = await Promise.all(
    dirs.map(async (d) => JSON.parse(await readFile(join(repo, d, 'package.json'), 'utf8'))),
  );
  const { stdout } = await run(
    'npm',
    ['pack', '--json', '--pack-destination', out, ...manifests.flatMap((m) => ['--workspace', m.name])],
    { cwd: repo, maxBuffer: 16 << 20 },
  );
  const packed = JSON.parse(stdout.slice(stdout.indexOf('['))) as {
    name: string;
    version: string;
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  return packed.map((p) => ({
    name: p.name,
    version: p.version,
    tarball: join(out, basename(p.filename)),
    size: p.size,
    unpackedSize: p.unpackedSize,
    files: p.files.map((f) => f.path).sort(),
    manifest: manifests.find((m) => m.name === p.name),
  }));
}

/**
 * A registry for one scope on loopback, serving `packages` as a public registry would (packument and
 * tarball). npm asks it only for that scope's names (`@scope:registry=` in .npmrc); everything else
 * still comes from the default registry.
 */
export async function scopedRegistry(packages: PackedPackage[]): Promise<{ url: string; close(): void }> {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] as string).slice(1);
    const tarball = packages.find((p) => path === `-/${basename(p.tarball)}`);
    if (tarball) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(readFileSync(tarball.tarball));
      return;
    }
    const pkg = byName.get(path);
    if (!pkg || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found' }));
      return;
    }
    const bytes = readFileSync(pkg.tarball);
    const { devDependencies: _dev, scripts: _scripts, ...manifest } = pkg.manifest;
    const version = {
      ...manifest,
      _id: `${pkg.name}@${pkg.version}`,
      dist: {
        tarball: `${url}/-/${basename(pkg.tarball)}`,
        shasum: createHash('sha1').update(bytes).digest('hex'),
        integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
      },
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        name: pkg.name,
        'dist-tags': { latest: pkg.version },
        versions: { [pkg.version]: version },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { url, close: () => server.close() };
}

/** The oldest Node the packages allow (`engines`), from the npm `node` package, installed once. */
export async function oldestNode(version: string): Promise<string> {
  const dir = join(cache, `node-${version}`);
  const binary = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (
    await stat(binary).then(
      () => true,
      () => false,
    )
  )
    return binary;
  await mkdir(dir, { recursive: true });
  const manifest = { name: `leasehold-node-${version}`, private: true, allowScripts: { node: true } };
  await writeFile(join(dir, 'package.json'), JSON.stringify(manifest));
  await run('npm', ['install', '--no-audit', '--no-fund', '--no-save', `node@${version}`], { cwd: dir });
  return binary;
}

/** Runs `npm` in `cwd` with the user's environment (no workspace, no repo-level npm settings). */
export async function npm(args: string[], cwd: string): Promise<string> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_(config|package|lifecycle)_/i.test(key)),
  );
  const { stdout } = await run('npm', args, { cwd, env, maxBuffer: 16 << 20 });
  return stdout;
}
