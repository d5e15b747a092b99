// Bundles the sidecar into dist/: leasehold-sidecar.mjs (what the bin, the image and the tests run), lazy
// chunks for what only some starts need (pino-pretty; client-node for exec-plugin kubeconfigs), and
// source maps beside them (used only with node --enable-source-maps). Fails when client-node's generated
// API models, or client-node at all, get into the main bundle.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';
import { generatedIndex, precompileRoutes } from './precompile-routes.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = join(root, 'dist');

// client-node has no "sideEffects" field, so every module its config.js imports (the generated API index,
// and with it ~760 models) would be kept. Its generated code has no side effects: say so.
const generatedCodeIsPure: Plugin = {
  name: 'client-node-generated-code-is-pure',
  setup(b) {
    b.onResolve({ filter: /^\./ }, async (args) => {
      if (args.pluginData === 'resolving' || !args.importer.includes('@kubernetes/client-node/dist/'))
        return undefined;
      const result = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: 'resolving',
      });
      if (!result.path.includes('@kubernetes/client-node/dist/gen/')) return result;
      return { ...result, sideEffects: false };
    });
  },
};

/** Resolves the packages `filter` matches to a stand-in module whose use throws `message`. */
function leaveOut(name: string, filter: RegExp, message: (path: string) => string, stub: string): Plugin {
  return {
    name,
    setup(b) {
      b.onResolve({ filter }, (args) => ({ path: args.path, namespace: name }));
      b.onLoad({ filter: /.*/, namespace: name }, (args) => ({
        contents: `const fail = () => { throw new Error(${JSON.stringify(message(args.path))}); };\n${stub}`,
        loader: 'js',
      }));
    },
  };
}

// The route schemas are compiled at build time (precompile-routes.ts): the bundle takes the generated code
// in place of src/precompiled-routes.ts and leaves fastify's schema compilers (ajv, fast-json-stringify)
// out, so a schema the build did not compile fails the app's start instead of compiling quietly.
const precompiledSchemas: Plugin = {
  name: 'precompiled-route-schemas',
  setup(b) {
    b.onResolve({ filter: /\/precompiled-routes\.ts$/ }, () => ({ path: generatedIndex }));
  },
};
const schemaCompilersLeftOut = leaveOut(
  'schema-compilers-left-out',
  /^@fastify\/(ajv-compiler|fast-json-stringify-compiler)$/,
  (path) => `${path} is not in the bundle: route schemas are compiled at build time; build again`,
  'module.exports = fail;',
);

// prom-client's process CPU metric requires @opentelemetry/api at load, only to label exemplars, which the
// sidecar never enables: the bundle takes a stand-in whose every use throws, and saves its load at start.
const exemplarsLeftOut = leaveOut(
  'opentelemetry-left-out',
  /^@opentelemetry\/api$/,
  () => '@opentelemetry/api is not in the bundle: prom-client exemplars are not supported',
  'module.exports = Object.defineProperties({}, { trace: { get: fail }, context: { get: fail } });',
);

export async function buildSidecar(): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true });
  await precompileRoutes();
  const { metafile } = await build({
    absWorkingDir: root,
    entryPoints: { 'leasehold-sidecar': 'src/cli.ts' },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22.19',
    sourcemap: 'linked',
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    // The CommonJS packages (fastify, pino, prom-client) call require() for Node's own modules.
    banner: {
      js: "import { createRequire as __lhCreateRequire } from 'node:module'; const require = __lhCreateRequire(import.meta.url);",
    },
    plugins: [generatedCodeIsPure, precompiledSchemas, schemaCompilersLeftOut, exemplarsLeftOut],
  });
  check(metafile);
  return metafile;
}

/** The guard: no generated model or schema compiler anywhere, no client-node in what every start loads. */
function check(metafile: Metafile): void {
  const bundled = Object.values(metafile.outputs).flatMap((output) =>
    Object.entries(output.inputs)
      .filter(([, contribution]) => contribution.bytesInOutput > 0)
      .map(([input]) => input),
  );
  const compilers = bundled.filter((input) => /node_modules\/(ajv|fast-json-stringify\/index)/.test(input));
  if (compilers.length > 0)
    throw new Error(`a schema compiler got into the bundle: ${compilers.slice(0, 5).join(', ')}`);
  const models = bundled.filter((input) => input.includes('client-node/dist/gen/models/'));
  if (models.length > 0)
    throw new Error(`generated client-node models got into the bundle: ${models.slice(0, 5).join(', ')}…`);
  // What every start loads: the cli, main.ts (the cli imports it at once, after its signal handlers) and
  // the chunks they import statically. Dynamic imports below main (exec plugins, pino-pretty) are lazy.
  const loaded = everyStartLoads(metafile, ['src/cli.ts', 'src/main.ts']);
  const eager = loaded.filter((input) => input.includes('@kubernetes/client-node'));
  if (eager.length > 0)
    throw new Error(`client-node got into what every start loads: ${eager.slice(0, 5).join(', ')}`);
  // The apiserver connection takes undici's Agent and request by path (src/kube/undici-parts.ts); the
  // index would load fetch, WebSocket, caches and mocks into every start.
  if (loaded.some((input) => input.endsWith('undici/index.js')))
    throw new Error(
      "undici's index got into what every start loads: import its parts (kube/undici-parts.ts)",
    );
  // Likewise prom-client's index, with its cluster aggregator and Pushgateway (prom-client-parts.ts).
  if (loaded.some((input) => input.endsWith('prom-client/index.js')))
    throw new Error(
      "prom-client's index got into what every start loads: import its parts (prom-client-parts.ts)",
    );
}

/** The inputs (that emit code) of the entry points' outputs and every chunk they import statically. */
function everyStartLoads(metafile: Metafile, entryPoints: string[]): string[] {
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const imported of metafile.outputs[path]?.imports ?? [])
      if (imported.kind === 'import-statement') visit(imported.path);
  };
  const entries = Object.entries(metafile.outputs).filter(([, o]) =>
    entryPoints.includes(o.entryPoint ?? ''),
  );
  if (entries.length !== entryPoints.length) throw new Error(`missing outputs for ${entryPoints.join(', ')}`);
  for (const [path] of entries) visit(path);
  return [...seen].flatMap((path) =>
    Object.entries(metafile.outputs[path]?.inputs ?? {})
      .filter(([, contribution]) => contribution.bytesInOutput > 0)
      .map(([input]) => input),
  );
}

if (import.meta.main) {
  const metafile = await buildSidecar();
  for (const file of (await readdir(outdir)).filter((f) => f.endsWith('.mjs'))) {
    const { size } = await stat(join(outdir, file));
    const inputs = Object.keys(metafile.outputs[`dist/${file}`]?.inputs ?? {}).length;
    process.stdout.write(`dist/${file}: ${(size / 1024).toFixed(0)} KiB from ${inputs} modules\n`);
  }
}
