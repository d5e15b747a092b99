import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { controlPlaneBinaries } from '../cluster/binaries.ts';

export const chartDir = fileURLToPath(new URL('../../chart/leasehold', import.meta.url));
export const libraryChartDir = fileURLToPath(new URL('../../chart/leasehold-lib', import.meta.url));
export const thirdPartyChartDir = fileURLToPath(new URL('../chart/fixtures/acme-operator', import.meta.url));

/** Runs the pinned helm; resolves with stdout/stderr, rejects with them on a non-zero exit. */
export async function helm(args: string[], env: Record<string, string> = {}) {
  const { helm: binary } = await controlPlaneBinaries();
  return promisify(execFile)(binary, args, { env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: any;
}

/** `helm template` with `--set`-style values, parsed into objects. */
export async function render(values: Record<string, string> = {}, chart = chartDir): Promise<K8sObject[]> {
  // `--set` reads 1.5 as a string; decimals go through --set-json so they arrive as numbers.
  const sets = Object.entries(values).flatMap(([key, value]) => [
    /^-?\d+\.\d+$/.test(value) ? '--set-json' : '--set',
    `${key}=${value}`,
  ]);
  const { stdout } = await helm([
    'template',
    'demo',
    chart,
    '--namespace',
    'team-a',
    '--kube-version',
    '1.36.3',
    ...sets,
  ]);
  return parseManifest(stdout);
}

/** One template of the app chart as a release `release` in `namespace` renders it (`args`: more flags). */
export async function renderTemplate(
  release: string,
  namespace: string,
  template: string,
  args: string[] = [],
): Promise<string> {
  const { stdout } = await helm([
    'template',
    release,
    chartDir,
    '--namespace',
    namespace,
    ...args,
    '-s',
    template,
  ]);
  return stdout;
}

/** A multi-document manifest, parsed into objects (empty documents dropped). */
export function parseManifest(manifest: string): K8sObject[] {
  return parseAllDocuments(manifest)
    .map((doc) => doc.toJSON() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The error text of a `helm template` that must fail. */
export async function renderError(values: Record<string, string>): Promise<string> {
  try {
    await render(values);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`rendering with ${JSON.stringify(values)} was expected to fail`);
}

export function find(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.find((o) => o.kind === kind);
  if (!found) throw new Error(`no ${kind} rendered; got ${objects.map((o) => o.kind).join(', ')}`);
  return found;
}
