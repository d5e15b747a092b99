// The packages as a user installs them: both workspaces packed, installed by name from a registry into a
// project outside this repository (no workspace links), the gate's README quick start run as written
// against a real sidecar from the sidecar's tarball on Node 24 and on the oldest Node `engines` allows,
// a consumer type-checked by tsc under nodenext and bundler resolution, `leasehold-sidecar --help`.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createNamespace, testCluster } from '../support/cluster.ts';
import { npm, oldestNode, type PackedPackage, pack, scopedRegistry } from '../support/packages.ts';
import { SidecarProcess, waitUntil } from '../support/sidecar.ts';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
let dir = '';
let project = '';
let packed: PackedPackage[] = [];
let registry: { url: string; close(): void } | undefined;

/** The blocks of a Markdown file whose language is `lang`. */
async function blocks(file: string, lang: string): Promise<string[]> {
  const text = await readFile(join(repo, file), 'utf8');
  return [...text.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1] as string);
}

const engineMinimum = (p: PackedPackage) =>
  /^>=(\d+\.\d+\.\d+)$/.exec(String((p.manifest.engines as { node?: string } | undefined)?.node))?.[1];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'leasehold-packages-'));
  packed = await pack(['controller', 'sidecar'], dir);
  registry = await scopedRegistry(packed);
  project = join(dir, 'my-controller');
  await mkdir(project);
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'my-controller', private: true, type: 'module' }),
  );
  await writeFile(join(project, '.npmrc'), `@leasehold:registry=${registry.url}/\n`);
  // The README's install command, as written, then the sidecar for a laptop run and tsc's Node types.
  const [install] = (await blocks('controller/README.md', 'sh')).filter((b) => b.startsWith('npm install'));
  assert.equal(install?.trim(), 'npm install @leasehold/controller');
  await npm(['install', '--no-audit', '--no-fund', '@leasehold/controller'], project);
  await npm(
    ['install', '--no-audit', '--no-fund', '--save-dev', '@leasehold/sidecar', '@types/node@24.19.2'],
    project,
  );
});

after(async () => {
  registry?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the tarballs hold what a user runs and nothing of the repository: compiled gate with types, bundled sidecar', () => {
  const controller = packed.find((p) => p.name === '@leasehold/controller');
  const sidecar = packed.find((p) => p.name === '@leasehold/sidecar');
  assert.ok(controller && sidecar, 'both packed');
  for (const file of ['LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/index.js.map'])
    assert.ok(controller.files.includes(file), `the gate's tarball has ${file}`);
  for (const file of ['LICENSE', 'README.md', 'bin/leasehold-sidecar.js', 'dist/leasehold-sidecar.mjs'])
    assert.ok(sidecar.files.includes(file), `the sidecar's tarball has ${file}`);
  for (const p of [controller, sidecar]) {
    assert.deepEqual(
      p.files.filter((f) => /^(test|scripts)\/|tsconfig|stryker/.test(f)),
      [],
      `${p.name}: no tests or tooling`,
    );
    assert.equal(p.manifest.private, undefined, `${p.name} is publishable`);
    assert.equal(engineMinimum(p), '22.19.0', `${p.name}: engines says what undici 8 needs`);
  }
  assert.deepEqual(Object.keys(controller.manifest.dependencies as object), ['undici']);
  assert.equal(sidecar.manifest.dependencies, undefined, 'the sidecar bundle needs no dependencies');
  process.stdout.write(
    `[packages] ${packed.map((p) => `${p.name} ${(p.size / 1024).toFixed(0)} KiB packed, ${(p.unpackedSize / 1024).toFixed(0)} KiB unpacked`).join('; ')}\n`,
  );
});

test('installed by name from a registry: real files under node_modules, not links into this repository', async () => {
  for (const name of ['@leasehold/controller', '@leasehold/sidecar']) {
    const path = join(project, 'node_modules', name);
    assert.equal((await lstat(path)).isSymbolicLink(), false, `${name} is a copy`);
    assert.ok(relative(repo, path).startsWith('..'), `${path} is outside the repository`);
  }
  const resolved = createRequire(join(project, 'index.js')).resolve('@leasehold/controller');
  assert.equal(
    relative(project, resolved),
    join('node_modules', '@leasehold', 'controller', 'dist', 'index.js'),
  );
});

test('`leasehold-sidecar --help` from the installed package lists every flag; a bad flag exits 2 naming it', async () => {
  const bin = join(project, 'node_modules', '.bin', 'leasehold-sidecar');
  const { stdout } = await run(bin, ['--help'], { cwd: project });
  for (const flag of ['--lease-name', '--namespace', '--kubeconfig', '--lease-duration-seconds', '--shards'])
    assert.match(stdout, new RegExp(`^  ${flag} `, 'm'));
  const refused = await run(bin, ['--lease-name', 'x', '--namespace', 'y', '--port', 'many'], {
    cwd: project,
  }).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(refused?.code, 2);
  assert.match(refused?.stderr ?? '', /PORT \(--port\) must be a whole number, got "many"/);
});

for (const consumer of [
  { name: 'nodenext', compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } },
  { name: 'bundler', compilerOptions: { module: 'preserve', moduleResolution: 'bundler' } },
]) {
  test(`a TypeScript consumer type-checks against the package's declarations (moduleResolution ${consumer.name})`, async () => {
    const src = join(project, `typed-${consumer.name}`);
    await mkdir(src, { recursive: true });
    await writeFile(
      join(src, 'main.ts'),
      [
        "import { createLeaderGate, createShardGate, TermEndedError, shardOf, type LeaderContext } from '@leasehold/controller';",
        'const gate = createLeaderGate({ pollIntervalMs: 500 });',
        'const work = async ({ signal, epoch }: LeaderContext): Promise<void> => {',
        '  const next: number = epoch + 1;',
        '  signal.throwIfAborted();',
        '  void next;',
        '};',
        'await gate.runWhileLeader(work, { signal: AbortSignal.timeout(1) });',
        "const shard: number = shardOf('default/name', 8);",
        'const shards = createShardGate({ shards: 8 });',
        'void shards; void shard;',
        'export const ended = (e: unknown): number | undefined => (e instanceof TermEndedError ? e.endedAt : undefined);',
        '',
      ].join('\n'),
    );
    // The same file with a mistake tsc must catch: the declarations really constrain the caller.
    await writeFile(
      join(src, 'wrong.ts'),
      "import { createLeaderGate } from '@leasehold/controller';\ncreateLeaderGate({ pollIntervalMs: 'fast' });\n",
    );
    const tsconfig = {
      compilerOptions: {
        target: 'es2022',
        strict: true,
        noEmit: true,
        types: ['node'],
        ...consumer.compilerOptions,
      },
      files: ['main.ts'],
    };
    await writeFile(join(src, 'tsconfig.json'), JSON.stringify(tsconfig));
    await writeFile(join(src, 'tsconfig.wrong.json'), JSON.stringify({ ...tsconfig, files: ['wrong.ts'] }));
    await writeFile(join(src, 'package.json'), JSON.stringify({ type: 'module' }));
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', join(src, 'tsconfig.json')]).catch((err: { stdout: string }) => {
      throw new Error(`tsc failed on the consumer:\n${err.stdout}`);
    });
    const wrong = await run(process.execPath, [tsc, '-p', join(src, 'tsconfig.wrong.json')]).then(
      () => '',
      (err: { stdout: string }) => err.stdout,
    );
    assert.match(wrong, /wrong\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
  });
}

let namespace = '';
const runtimes = [
  { name: 'Node 24', node: async () => process.execPath },
  { name: 'the oldest Node engines allows', node: () => oldestNode('22.19.0') },
];
for (const runtime of runtimes) {
  test(`the README quick start runs as written on ${runtime.name}: leads against a real sidecar from the tarball, ends its term on SIGTERM`, async () => {
    const node = await runtime.node();
    const version = (await run(node, ['--version'])).stdout.trim();
    if (runtime.name !== 'Node 24') assert.equal(version, `v${engineMinimum(packed[0] as PackedPackage)}`);
    namespace ||= await createNamespace('packages');
    const [quickStart] = await blocks('controller/README.md', 'ts');
    assert.ok(quickStart?.includes("from '@leasehold/controller'"), 'the README has the quick start');
    if (!quickStart) return;
    const main = join(project, 'main.mjs');
    await writeFile(main, quickStart);
    const leaseName = `quick-start-${version.replaceAll('.', '-')}`;
    const sidecar = await SidecarProcess.start({
      namespace,
      leaseName,
      podName: 'laptop',
      kubeconfig: testCluster().info.kubeconfigPath,
      bin: join(project, 'node_modules', '@leasehold', 'sidecar', 'bin', 'leasehold-sidecar.js'),
      node,
    });
    const app = spawn(node, [main], {
      cwd: project,
      env: { ...process.env, LEASEHOLD_URL: sidecar.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    app.stdout.on('data', (c: Buffer) => (output += c));
    app.stderr.on('data', (c: Buffer) => (output += c));
    const exited = new Promise<number | null>((resolve) => app.once('exit', resolve));
    try {
      const epoch = await waitUntil(
        'the quick start to lead',
        async () => /leading, epoch (\d+)/.exec(output)?.[1],
        20_000,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\napp: ${output}\nsidecar:\n${sidecar.tail()}`);
      });
      assert.equal(Number(epoch), (await sidecar.leader()).epoch, 'the epoch the sidecar answers with');
      app.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      assert.match(output, new RegExp(`term ${epoch} ended`));
      // The gate closed: its session gave its promises back, so the sidecar releases at once on SIGTERM.
      assert.equal(await sidecar.stop(), 0);
    } finally {
      app.kill('SIGKILL');
      await sidecar.stop('SIGKILL');
    }
  });
}
