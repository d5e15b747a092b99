// kube-score and checkov on the rendered chart: they find exactly what the chart README explains.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chartDir, helm } from '../support/helm.ts';

const run = promisify(execFile);

/** The finding ids the README's Checks section explains, per scanner. */
async function explained(): Promise<{ kubeScore: string[]; checkov: string[] }> {
  const readme = await readFile(join(chartDir, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Checks'),
    readme.indexOf('\n## ', readme.indexOf('## Checks') + 1),
  );
  const ids = (pattern: RegExp): string[] =>
    [...new Set([...section.matchAll(pattern)].map((m) => m[1] as string))].sort();
  return {
    kubeScore: ids(/kube-score\s+`([a-z-]+)`/g),
    checkov: ids(/`(CKV2?_K8S_\d+)`/g),
  };
}

/** Runs a scanner that exits non-zero when it finds something; its JSON report is on stdout either way. */
async function report(file: string, args: string[]): Promise<unknown> {
  const result = await run(file, args, { maxBuffer: 64 << 20 }).catch(
    (err: { stdout?: string; code?: number }) => {
      if (err.code === 1 && err.stdout) return { stdout: err.stdout };
      throw err;
    },
  );
  return JSON.parse(result.stdout);
}

test('kube-score and checkov (pinned) on the rendered chart find exactly what the chart README explains', async (t) => {
  const script = fileURLToPath(new URL('../cluster/build-chart-scanners.sh', import.meta.url));
  const tools = (await run('bash', [script], { maxBuffer: 16 << 20 })).stdout.trim();
  const dir = await mkdtemp(join(tmpdir(), 'leasehold-scan-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'rendered.yaml');
  const { stdout } = await helm([
    'template',
    'demo',
    chartDir,
    '--namespace',
    'team-a',
    '--set',
    'metrics.service.enabled=true',
  ]);
  await writeFile(manifest, stdout);

  const scores = (await report(join(tools, 'bin/kube-score'), [
    'score',
    '--output-format',
    'json',
    manifest,
  ])) as {
    checks: { check: { id: string }; grade: number; skipped: boolean }[];
  }[];
  // Grades: 1 critical, 5 warning, 10 all good.
  const kubeScore = [
    ...new Set(
      scores.flatMap((o) => o.checks.filter((c) => !c.skipped && c.grade < 10).map((c) => c.check.id)),
    ),
  ].sort();

  const checked = await report(join(tools, 'venv/bin/checkov'), [
    '--file',
    manifest,
    '--framework',
    'kubernetes',
    '--skip-download',
    '--output',
    'json',
    '--quiet',
  ]);
  const failed = [checked]
    .flat()
    .flatMap(
      (r) => (r as { results?: { failed_checks?: { check_id: string }[] } }).results?.failed_checks ?? [],
    );
  const checkov = [...new Set(failed.map((f) => f.check_id))].sort();

  const readme = await explained();
  assert.ok(
    readme.kubeScore.length > 0 && readme.checkov.length > 0,
    'the README names the findings it explains',
  );
  assert.deepEqual({ kubeScore, checkov }, readme);
});
