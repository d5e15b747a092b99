import type { ElectorHooks } from './elector-hooks.ts';
import { KubernetesApiError } from './errors.ts';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from './prom-client-parts.ts';
import type { PromiseLedger } from './promise-ledger.ts';

export interface Metrics {
  registry: Registry;
  hooks: Partial<ElectorHooks>;
}

/** Prometheus metrics: client-go's leader_election_master_status plus leasehold_*; see docs/api.md. */
export function createMetrics(options: {
  leaseName: string;
  now: () => number;
  /** The leader's validity left (0 unless leader), read when scraped. */
  validForMs: () => number;
  ledger?: PromiseLedger;
  /** Sharded mode: the shard Leases, for leader_election_master_status (none for `leaseName` itself). */
  shardLeases?: () => { name: string; isLeader: boolean }[];
}): Metrics {
  const registry = new Registry();
  // Event-loop lag sampled once a second, not every 10 ms: an idle sidecar stays idle.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1_000 });
  const { leaseName } = options;
  let lastRenewAt: number | undefined;

  const { shardLeases } = options;
  const masterStatus = new Gauge({
    name: 'leader_election_master_status',
    help: 'Whether this replica is the leader of the named lease (1) or not (0), as client-go reports it.',
    labelNames: ['name'],
    registers: [registry],
    // Sharded: one series per shard Lease, read when scraped.
    collect() {
      if (!shardLeases) return;
      for (const lease of shardLeases()) this.set({ name: lease.name }, lease.isLeader ? 1 : 0);
    },
  });
  const isLeader = new Gauge({
    name: 'leasehold_is_leader',
    help: '1 while this replica leads with validity left.',
    registers: [registry],
  });
  const epoch = new Gauge({
    name: 'leasehold_epoch',
    help: 'Fencing epoch (leaseTransitions) of the current holder.',
    registers: [registry],
  });
  const transitions = new Counter({
    name: 'leasehold_leadership_transitions_total',
    help: 'Leadership changes of this replica, by kind (acquired, or the reason it stopped leading).',
    labelNames: ['kind'],
    registers: [registry],
  });
  const renewDuration = new Histogram({
    name: 'leasehold_renew_duration_seconds',
    help: 'Latency of successful renew requests.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'leasehold_seconds_since_last_renew',
    help: 'Seconds since this replica last renewed the lease (absent until it has).',
    registers: [registry],
    collect() {
      if (lastRenewAt !== undefined) this.set((options.now() - lastRenewAt) / 1000);
    },
  });
  new Gauge({
    name: 'leasehold_validity_remaining_seconds',
    help: 'Seconds this replica may still act as leader without another renew (0 unless leader).',
    registers: [registry],
    collect() {
      this.set(options.validForMs() / 1000);
    },
  });
  const apiErrors = new Counter({
    name: 'leasehold_api_errors_total',
    help: 'Failed Kubernetes API calls, by HTTP status or transport failure.',
    labelNames: ['code'],
    registers: [registry],
  });
  const conflicts = new Counter({
    name: 'leasehold_conflicts_total',
    help: 'Writes refused with 409 Conflict because someone else changed the Lease first.',
    registers: [registry],
  });

  const throttled = new Counter({
    name: 'leasehold_api_throttled_total',
    help: 'Lease requests the apiserver refused with 429 Too Many Requests (API Priority and Fairness).',
    registers: [registry],
  });
  const throttleDelay = new Histogram({
    name: 'leasehold_api_throttle_delay_seconds',
    help: 'How long the sidecar waited after a 429 before asking again (Retry-After, capped by the validity left).',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [registry],
  });

  const promiseWait = new Histogram({
    name: 'leasehold_handoff_promise_wait_seconds',
    help: 'How long a hand-over waited, after demoting, for answers already given to run out or be given back.',
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const { ledger } = options;
  if (ledger) {
    new Gauge({
      name: 'leasehold_gate_sessions',
      help: 'Gate sessions the sidecar knows, by whether their app reports leader work running.',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.set({ state: 'active' }, ledger.activeCount);
        this.set({ state: 'idle' }, ledger.sessionCount - ledger.activeCount);
      },
    });
  }

  if (!shardLeases) masterStatus.set({ name: leaseName }, 0);
  isLeader.set(0);
  const hooks: Partial<ElectorHooks> = {
    stateChanged(snapshot) {
      masterStatus.set({ name: leaseName }, snapshot.isLeader ? 1 : 0);
      isLeader.set(snapshot.isLeader ? 1 : 0);
      if (snapshot.epoch !== null) epoch.set(snapshot.epoch);
    },
    acquired() {
      transitions.inc({ kind: 'acquired' });
      lastRenewAt = options.now();
    },
    demoted(reason) {
      transitions.inc({ kind: reason });
    },
    renewed(seconds) {
      renewDuration.observe(seconds);
      lastRenewAt = options.now();
    },
    apiError(err) {
      apiErrors.inc({ code: err instanceof KubernetesApiError ? err.metricCode : 'unknown' });
    },
    conflict() {
      conflicts.inc();
    },
    throttled(delaySeconds) {
      throttled.inc();
      throttleDelay.observe(delaySeconds);
    },
    promisesWaited(seconds) {
      promiseWait.observe(seconds);
    },
  };
  return { registry, hooks };
}
