// The chart's alert rules under `promtool test rules` (Prometheus's own rule engine, from Debian's
// package, installed by the harness): each alert of both modes fires on the series that mean trouble and
// stays quiet on healthy ones. The rules are rendered by helm exactly as a release would have them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { chartDir, find, helm, render } from '../support/helm.ts';

const run = promisify(execFile);
const ensurePackages = fileURLToPath(new URL('../cluster/ensure-packages.sh', import.meta.url));
const service = 'demo-leasehold-metrics';
const lease = 'demo-leasehold';
const where = `namespace="team-a",service="${service}"`;

interface Rule {
  alert: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
}

before(async () => {
  await run('bash', [ensurePackages, 'prometheus']);
  await helm(['dependency', 'build', chartDir]);
});

/** The release's rules (with `values`), and `promtool test rules` over `tests`; resolves with its output. */
async function promtool(values: Record<string, string>, tests: (rules: Rule[]) => unknown[]) {
  const objects = await render({
    'metrics.service.enabled': 'true',
    'metrics.prometheusRule.enabled': 'true',
    ...values,
  });
  const groups = find(objects, 'PrometheusRule').spec.groups as { rules: Rule[] }[];
  const dir = await mkdtemp(join(tmpdir(), 'leasehold-promtool-'));
  await writeFile(join(dir, 'rules.yaml'), stringify({ groups }));
  const rules = groups.flatMap((g) => g.rules);
  await writeFile(
    join(dir, 'tests.yaml'),
    stringify({ rule_files: ['rules.yaml'], evaluation_interval: '15s', tests: tests(rules) }),
  );
  try {
    const { stdout } = await run('promtool', ['test', 'rules', join(dir, 'tests.yaml')]);
    return stdout;
  } catch (err) {
    const { stdout, stderr } = err as { stdout: string; stderr: string };
    assert.fail(`promtool test rules failed:\n${stdout}\n${stderr}`);
  }
}

/** The alert `name` as Prometheus would send it, with `labels` (its annotations filled in). */
function expected(rules: Rule[], name: string, labels: Record<string, string> = {}) {
  const rule = rules.find((r) => r.alert === name) as Rule;
  const annotations = Object.fromEntries(
    // The one template form the rules use: {{ with $labels.x }}…{{ . }}…{{ else }}…{{ end }}.
    Object.entries(rule.annotations).map(([k, v]) => [
      k,
      v.replace(
        /\{\{ with \$labels\.(\w+) \}\}(.*?)\{\{ else \}\}(.*?)\{\{ end \}\}/g,
        (_, label: string, present: string, absent: string) =>
          labels[label] ? present.replace('{{ . }}', labels[label]) : absent,
      ),
    ]),
  );
  return { exp_labels: { ...rule.labels, ...labels }, exp_annotations: annotations };
}

test('one Lease: LeaseholdNoLeader fires after 30 s without a leader (and with no series at all), not with one; flapping past the threshold', async () => {
  const output = await promtool({}, (rules) => [
    {
      interval: '15s',
      input_series: [
        {
          series: `leader_election_master_status{${where},name="${lease}",pod="a"}`,
          values: '1 1 0 0 0 0 0',
        },
        {
          series: `leader_election_master_status{${where},name="${lease}",pod="b"}`,
          values: '0 0 0 0 0 0 0',
        },
      ],
      alert_rule_test: [
        { eval_time: '30s', alertname: 'LeaseholdNoLeader', exp_alerts: [] },
        {
          eval_time: '90s',
          alertname: 'LeaseholdNoLeader',
          exp_alerts: [expected(rules, 'LeaseholdNoLeader')],
        },
      ],
    },
    {
      interval: '15s',
      input_series: [
        { series: `leader_election_master_status{${where},name="${lease}",pod="a"}`, values: '1x10' },
      ],
      alert_rule_test: [{ eval_time: '2m', alertname: 'LeaseholdNoLeader', exp_alerts: [] }],
    },
    {
      interval: '15s',
      input_series: [],
      alert_rule_test: [
        {
          eval_time: '1m',
          alertname: 'LeaseholdNoLeader',
          exp_alerts: [expected(rules, 'LeaseholdNoLeader')],
        },
      ],
    },
    {
      interval: '1m',
      input_series: [
        {
          series: `leasehold_leadership_transitions_total{${where},kind="acquired",pod="a"}`,
          values: '0+1x15',
        },
        {
          series: `leasehold_leadership_transitions_total{${where},kind="acquired",pod="b"}`,
          values: '0+0x15',
        },
      ],
      alert_rule_test: [
        {
          eval_time: '12m',
          alertname: 'LeaseholdLeadershipFlapping',
          exp_alerts: [expected(rules, 'LeaseholdLeadershipFlapping')],
        },
      ],
    },
    {
      interval: '1m',
      input_series: [
        {
          series: `leasehold_leadership_transitions_total{${where},kind="acquired",pod="a"}`,
          values: '0+0.3x15',
        },
      ],
      alert_rule_test: [{ eval_time: '12m', alertname: 'LeaseholdLeadershipFlapping', exp_alerts: [] }],
    },
  ]);
  assert.match(output, /SUCCESS/);
});

test('sharded: LeaseholdShardWithoutOwner fires per unowned shard after LD + 15 s (and with no series), LeaseholdShardsUnbalanced after 2 x LD; healthy shares stay quiet', async () => {
  const owned = (pod: string, shard: number, values: string) => ({
    series: `leasehold_shard_owned{${where},shard="${shard}",pod="${pod}"}`,
    values,
  });
  const output = await promtool({ 'sidecar.shards': '4' }, (rules) => {
    const names = rules.map((r) => r.alert);
    assert.deepEqual(names, ['LeaseholdShardWithoutOwner', 'LeaseholdShardsUnbalanced']);
    return [
      {
        interval: '15s',
        // Shard 2's owner (a) crashed at 30 s; b takes it over only after LD, at 45 s: no alert (for 30 s).
        input_series: [
          owned('a', 0, '1x8'),
          owned('a', 1, '1x8'),
          owned('a', 2, '1 1 0 0 0 0 0 0 0'),
          owned('b', 2, '0 0 0 1 1 1 1 1 1'),
          owned('b', 3, '1x8'),
        ],
        alert_rule_test: [{ eval_time: '2m', alertname: 'LeaseholdShardWithoutOwner', exp_alerts: [] }],
      },
      {
        interval: '15s',
        // Shard 3 is owned by nobody for good.
        input_series: [
          owned('a', 0, '1x8'),
          owned('a', 1, '1x8'),
          owned('b', 2, '1x8'),
          owned('b', 3, '0x8'),
        ],
        alert_rule_test: [
          { eval_time: '15s', alertname: 'LeaseholdShardWithoutOwner', exp_alerts: [] },
          {
            eval_time: '1m',
            alertname: 'LeaseholdShardWithoutOwner',
            exp_alerts: [expected(rules, 'LeaseholdShardWithoutOwner', { shard: '3' })],
          },
        ],
      },
      {
        interval: '15s',
        input_series: [],
        alert_rule_test: [
          {
            eval_time: '1m',
            alertname: 'LeaseholdShardWithoutOwner',
            // absent() keeps the selector's labels.
            exp_alerts: [expected(rules, 'LeaseholdShardWithoutOwner', { namespace: 'team-a', service })],
          },
        ],
      },
      {
        interval: '15s',
        input_series: [
          { series: `leasehold_shards_owned{${where},pod="a"}`, values: '3x8' },
          { series: `leasehold_shards_owned{${where},pod="b"}`, values: '1x8' },
          { series: `leasehold_shards_fair_share{${where},bound="max",pod="a"}`, values: '2x8' },
          { series: `leasehold_shards_fair_share{${where},bound="max",pod="b"}`, values: '2x8' },
        ],
        alert_rule_test: [
          { eval_time: '15s', alertname: 'LeaseholdShardsUnbalanced', exp_alerts: [] },
          {
            eval_time: '1m',
            alertname: 'LeaseholdShardsUnbalanced',
            exp_alerts: [expected(rules, 'LeaseholdShardsUnbalanced')],
          },
        ],
      },
      {
        interval: '15s',
        input_series: [
          { series: `leasehold_shards_owned{${where},pod="a"}`, values: '2x8' },
          { series: `leasehold_shards_owned{${where},pod="b"}`, values: '2x8' },
          { series: `leasehold_shards_fair_share{${where},bound="max",pod="a"}`, values: '2x8' },
          { series: `leasehold_shards_fair_share{${where},bound="max",pod="b"}`, values: '2x8' },
        ],
        alert_rule_test: [{ eval_time: '2m', alertname: 'LeaseholdShardsUnbalanced', exp_alerts: [] }],
      },
    ];
  });
  assert.match(output, /SUCCESS/);
});
