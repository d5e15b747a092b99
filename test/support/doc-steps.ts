// The steps of docs/adding-to-your-controller.md (and docs/fencing.md's), as written: each `<!-- doc-step: … -->` marker says
// what a user does with the code block(s) that follow it, and `applySteps` does exactly that to a
// project on disk (a `helm create` chart, a kubebuilder-style layout). Nothing here edits a block.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { controlPlaneBinaries } from '../cluster/binaries.ts';
import { helm } from './helm.ts';

export const addingDoc = fileURLToPath(new URL('../../docs/adding-to-your-controller.md', import.meta.url));
const repoChartDir = fileURLToPath(new URL('../../chart', import.meta.url));

export interface DocStep {
  action: 'append' | 'prepend' | 'insert' | 'replace' | 'create' | 'run';
  file: string;
  /** insert: the line after which the block goes. */
  after?: string;
  /** The code blocks under the marker, in order. */
  blocks: string[];
}

/** The steps of one `## ` section whose heading starts with `heading`, of `file` (by default this doc). */
export async function docSteps(heading: string, file = addingDoc): Promise<DocStep[]> {
  const doc = await readFile(file, 'utf8');
  const start = doc.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `${file} has a section "${heading}"`);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const parts = section.split(/<!-- doc-step: (.*?) -->/);
  const steps: DocStep[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const spec = parts[i] as string;
    const blocks = [...(parts[i + 1] as string).matchAll(/```\w*\n([\s\S]*?)```/g)].map(
      (m) => m[1] as string,
    );
    const match = /^(\w+)(?: (\S+))?(?: after "(.*)")?$/.exec(spec);
    assert.ok(match, `doc-step "${spec}" is well formed`);
    steps.push({ action: match[1] as DocStep['action'], file: match[2] ?? '', after: match[3], blocks });
  }
  return steps;
}

/** Applies the file steps of `steps` to the project at `root`; `run` steps are returned for the caller. */
export async function applySteps(
  root: string,
  steps: DocStep[],
  rename: Record<string, string> = {},
): Promise<DocStep[]> {
  const runs: DocStep[] = [];
  const renamed = (text: string) =>
    Object.entries(rename).reduce((t, [from, to]) => t.replaceAll(from, to), text);
  for (const step of steps) {
    if (step.action === 'run') {
      runs.push(step);
      continue;
    }
    const path = join(root, step.file);
    const [block, replacement] = step.blocks.map(renamed) as [string, string | undefined];
    const current = step.action === 'create' ? '' : await readFile(path, 'utf8');
    let next: string;
    switch (step.action) {
      case 'create':
        await mkdir(dirname(path), { recursive: true });
        next = block;
        break;
      case 'append':
        next = `${current.replace(/\n*$/, '\n')}${block}`;
        break;
      case 'prepend':
        next = `${block}${current}`;
        break;
      case 'insert': {
        const lines = current.split('\n');
        const at = lines.indexOf(step.after as string);
        assert.ok(at >= 0, `${step.file} has the line "${step.after}" the doc says to insert after`);
        assert.equal(
          lines.lastIndexOf(step.after as string),
          at,
          `"${step.after}" is unique in ${step.file}`,
        );
        lines.splice(at + 1, 0, block.replace(/\n$/, ''));
        next = lines.join('\n');
        break;
      }
      case 'replace':
        assert.ok(replacement, 'a replace step has the old and the new block');
        assert.ok(current.includes(block), `${step.file} contains the block the doc says to replace`);
        next = current.replace(block, replacement);
        break;
      default:
        throw new Error(`unknown doc-step action ${step.action}`);
    }
    await writeFile(path, next);
  }
  return runs;
}

const workspaces = new Set<string>();

/**
 * A directory laid out as the doc assumes: `<dir>/leasehold` holds a copy of this repository's chart/
 * (without built dependencies, as a fresh checkout has it) next to the user's project. Removed when the
 * test process exits (not when a test ends: a file's tools live in one for all its tests).
 */
export async function workspace(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `leasehold-${prefix}-`));
  if (workspaces.size === 0)
    process.once('exit', () => {
      for (const made of workspaces) rmSync(made, { recursive: true, force: true });
    });
  workspaces.add(dir);
  await cp(repoChartDir, join(dir, 'leasehold', 'chart'), {
    recursive: true,
    filter: (source) => !/\/charts(\/|$)/.test(source.slice(repoChartDir.length)),
  });
  return dir;
}

/** A PATH directory with the pinned kubectl and helm, so `run` blocks execute as written. */
export async function toolPath(dir: string): Promise<string> {
  const { kubectl, helm } = await controlPlaneBinaries();
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  await symlink(kubectl, join(bin, 'kubectl'));
  await symlink(helm, join(bin, 'helm'));
  return `${bin}:${process.env.PATH}`;
}

/** Runs a doc `sh` block line by line with `bash -e` in `cwd`. */
export async function runBlock(block: string, cwd: string, env: Record<string, string>) {
  return promisify(execFile)('bash', ['--norc', '-euo', 'pipefail', '-c', block], {
    cwd,
    env: { ...process.env, ...env },
    maxBuffer: 16 << 20,
  });
}

/**
 * Makes a chart as the doc's Helm section says, on `helm create <name>`: returns its directory, with
 * `helm dependency update` done.
 */
export async function helmCreateChartFromDoc(dir: string, name: string): Promise<string> {
  const chart = join(dir, name);
  await helm(['create', chart]);
  // The doc's registry is ours; a user's is where they pushed: here, a local one with this checkout's chart.
  const registry = await libraryChartRegistry();
  const runs = await applySteps(chart, await docSteps('1. Helm'), {
    mychart: name,
    'oci://ghcr.io/leasehold/charts': `oci://${registry}/charts`,
  });
  assert.equal(runs.length, 0);
  await helm(['dependency', 'update', chart, '--plain-http']);
  return chart;
}

const registryScript = fileURLToPath(new URL('../cluster/registry/registry.sh', import.meta.url));
// An address of its own, so that the e2e suite's registry is not touched.
const docsRegistry = '127.0.0.1:15200';
let libraryPushed: Promise<string> | undefined;

/** A registry (stopped when this process exits) holding this checkout's library chart; its `host/prefix`. */
function libraryChartRegistry(): Promise<string> {
  libraryPushed ??= (async () => {
    const env = { ...process.env, LEASEHOLD_REGISTRY: docsRegistry };
    await promisify(execFile)('bash', [registryScript, 'up'], { env });
    process.once('exit', () => {
      execFileSync('bash', [registryScript, 'down'], { env, stdio: 'ignore' });
    });
    const out = await mkdtemp(join(tmpdir(), 'leasehold-lib-chart-'));
    await helm(['package', join(repoChartDir, 'leasehold-lib'), '--destination', out]);
    const [packaged] = (await readdir(out)).filter((f) => f.endsWith('.tgz'));
    await helm([
      'push',
      join(out, packaged as string),
      `oci://${docsRegistry}/leasehold/charts`,
      '--plain-http',
    ]);
    rmSync(out, { recursive: true, force: true });
    return `${docsRegistry}/leasehold`;
  })();
  return libraryPushed;
}
