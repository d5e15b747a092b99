import type { ElectorHooks } from '../elector-hooks.ts';
import { KubernetesApiError } from '../errors.ts';
import { Counter, Gauge, Histogram, type Registry } from '../prom-client-parts.ts';
import type { BalancePlan } from './balance.ts';

/** What the shard metrics read at scrape time. */
export interface ShardMetricsSource {
  shards: readonly { index: number; elector: { snapshot(): { isLeader: boolean; epoch: number | null } } }[];
  plan(): BalancePlan | undefined;
}

/**
 * Per-shard series for a sharded sidecar (docs/api.md): whether this replica owns each shard, its epoch,
 * transitions, renewal latency and API failures by shard, and how many shards it owns against the fair
 * share. Ownership and epochs are read from the electors when scraped; the rest comes through each
 * shard's elector hooks (`hooksFor`).
 */
export function createShardMetrics(
  registry: Registry,
  source: ShardMetricsSource,
): { hooksFor(index: number): Partial<ElectorHooks> } {
  new Gauge({
    name: 'leasehold_shard_owned',
    help: '1 while this replica owns the shard with validity left.',
    labelNames: ['shard'],
    registers: [registry],
    collect() {
      for (const shard of source.shards)
        this.set({ shard: String(shard.index) }, shard.elector.snapshot().isLeader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'leasehold_shard_epoch',
    help: "Fencing epoch (leaseTransitions) of the shard's current holder, as this replica last saw it.",
    labelNames: ['shard'],
    registers: [registry],
    collect() {
      this.reset();
      for (const shard of source.shards) {
        const { epoch } = shard.elector.snapshot();
        if (epoch !== null) this.set({ shard: String(shard.index) }, epoch);
      }
    },
  });
  new Gauge({
    name: 'leasehold_shards_owned',
    help: 'How many shards this replica owns with validity left.',
    registers: [registry],
    collect() {
      this.set(source.shards.filter((s) => s.elector.snapshot().isLeader).length);
    },
  });
  new Gauge({
    name: 'leasehold_shards_fair_share',
    help: 'The fair share of shards per live replica, as this replica sees it (bound: min or max).',
    labelNames: ['bound'],
    registers: [registry],
    collect() {
      const plan = source.plan();
      if (!plan) return;
      this.set({ bound: 'min' }, plan.fairMin);
      this.set({ bound: 'max' }, plan.fairMax);
    },
  });
  const transitions = new Counter({
    name: 'leasehold_shard_transitions_total',
    help: 'Ownership changes of this replica by shard and kind (acquired, or why it stopped owning it).',
    labelNames: ['shard', 'kind'],
    registers: [registry],
  });
  const renewDuration = new Histogram({
    name: 'leasehold_shard_renew_duration_seconds',
    help: 'Latency of successful renewals, by shard.',
    labelNames: ['shard'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const apiErrors = new Counter({
    name: 'leasehold_shard_api_errors_total',
    help: 'Failed Kubernetes API calls, by shard and HTTP status or transport failure.',
    labelNames: ['shard', 'code'],
    registers: [registry],
  });
  return {
    hooksFor(index) {
      const shard = String(index);
      return {
        acquired() {
          transitions.inc({ shard, kind: 'acquired' });
        },
        demoted(reason) {
          transitions.inc({ shard, kind: reason });
        },
        renewed(seconds) {
          renewDuration.observe({ shard }, seconds);
        },
        apiError(err) {
          apiErrors.inc({ shard, code: err instanceof KubernetesApiError ? err.metricCode : 'unknown' });
        },
      };
    },
  };
}
