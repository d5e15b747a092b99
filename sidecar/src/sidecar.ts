import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import { watchAppHealth } from './app-health.ts';
import { type Clock, systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { Elector } from './elector.ts';
import { combineHooks, type ElectorHooks } from './elector-hooks.ts';
import { KubernetesApiError } from './errors.ts';
import { leaderHealth } from './health-source.ts';
import type { KubeRequester } from './kube/connection.ts';
import { HttpLeaseApi, type LeaseApi } from './kube/lease-api.ts';
import { kubeIntegrationHooks } from './kube-events.ts';
import { type LeaderSource, SingleReplicaLeader } from './leader-source.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { PromiseLedger } from './promise-ledger.ts';
import type { ShardSet } from './shards/shard-set.ts';

export interface SidecarDeps {
  logger: Logger;
  clock?: Clock;
  /** Authenticated API access; needed unless leader election is disabled. */
  requester?: KubeRequester;
  /** The Lease calls; default: over `requester`. */
  api?: LeaseApi;
}

export interface Sidecar {
  /** One Lease: the elector or the single-replica stand-in; undefined with SHARDS (see `shards`). */
  source: LeaderSource | undefined;
  elector: Elector | undefined;
  /** SHARDS set: the shard Leases, in place of the elector. */
  shards: ShardSet | undefined;
  ledger: PromiseLedger;
  metrics: Metrics;
  app: FastifyInstance;
  probes: FastifyInstance | undefined;
  /** Listens on the configured addresses and starts campaigning; resolves with the API address. */
  start(): Promise<string>;
  /** Demotes, keeps every promise, releases, closes the listeners. */
  stop(): Promise<void>;
}

/** Wires config into the running parts, without listening: tests build one with an injected API. */
export async function buildSidecar(config: Config, deps: SidecarDeps): Promise<Sidecar> {
  const log = deps.logger;
  const clock = deps.clock ?? systemClock;
  const ledger = new PromiseLedger(clock);
  const apiErrors = trackApiErrors(log);
  let source: LeaderSource | undefined;
  let shards: ShardSet | undefined;
  const metrics = createMetrics({
    leaseName: config.leaseName,
    now: () => clock.now(),
    validForMs: () => source?.snapshot().validForMs ?? 0,
    ledger,
    ...(config.shards > 0
      ? {
          shardLeases: () =>
            (shards?.shards ?? []).map((s) => ({ name: s.leaseName, isLeader: s.elector.isLeader() })),
        }
      : {}),
  });

  let elector: Elector | undefined;
  if (config.shards > 0) {
    const requester = deps.requester;
    if (!requester) throw new Error('a sharded sidecar needs a requester');
    // Loaded only when sharding: the single-Lease start path stays as it was.
    const { ShardSet } = await import('./shards/shard-set.ts');
    const { createShardMetrics } = await import('./shards/shard-metrics.ts');
    // Read when scraped, so the set it reports on may be made after it.
    const shardMetrics = createShardMetrics(metrics.registry, {
      get shards() {
        return shards?.shards ?? [];
      },
      plan: () => shards?.plan(),
    });
    const { apiError, conflict, throttled } = metrics.hooks;
    shards = new ShardSet({
      config,
      apiFor: (name) => new HttpLeaseApi(requester, { namespace: config.namespace, name }),
      clock,
      logger: log.child({ component: 'shards' }),
      // Per shard: its series, an Event on each transition of its Lease, and the API failures that
      // /readyz explains and the totals count.
      hooksFor: (index, leaseName) =>
        combineHooks(
          shardMetrics.hooksFor(index),
          kubeIntegrationHooks({
            ...config,
            leaseName,
            podRoleLabel: false,
            requester,
            logger: log.child({ component: 'kube', shard: index }),
          }),
          { apiError, conflict, throttled },
          apiErrors.hooks,
        ),
    });
  } else if (!config.enableLeaderElection) {
    log.warn(
      'LEADER ELECTION DISABLED (ENABLE_LEADER_ELECTION=false): this replica always reports itself leader',
    );
    source = new SingleReplicaLeader(config.identity, config.leaseDurationSeconds);
    metrics.hooks.stateChanged?.(source.snapshot());
  } else {
    const requester = deps.requester;
    const api =
      deps.api ??
      (requester && new HttpLeaseApi(requester, { namespace: config.namespace, name: config.leaseName }));
    if (!api) throw new Error('buildSidecar needs a requester or an api');
    const hooks = combineHooks(
      metrics.hooks,
      requester
        ? kubeIntegrationHooks({ ...config, requester, logger: log.child({ component: 'kube' }) })
        : {},
      apiErrors.hooks,
      { promisesKept: () => ledger.allKept() },
    );
    elector = new Elector({ config, api, clock, logger: log.child({ component: 'elector' }), hooks });
    source = elector;
  }

  const common = {
    source,
    health: shards ? shards.health(apiErrors.last) : leaderHealth(source as LeaderSource, apiErrors.last),
    registry: metrics.registry,
    lease: `${config.namespace}/${config.leaseName}`,
    logger: log,
    clock,
  };
  const { app } = await buildApp({
    ...common,
    ledger,
    sessionlessValidityMs: config.sessionlessValiditySeconds * 1000,
    resignPauseSeconds: config.resignPauseSeconds,
    maxWatchers: config.maxStreams,
    shards,
  });
  const probes = config.probePort === 0 ? undefined : (await buildApp({ ...common, probesOnly: true })).app;
  let health: { stop(): void } | undefined;

  return {
    source,
    elector,
    shards,
    ledger,
    metrics,
    app,
    probes,
    async start() {
      const address = await app.listen({ host: config.listenAddress, port: config.port });
      await probes?.listen({ host: config.probeListenAddress, port: config.probePort });
      log.info({ address, probePort: config.probePort || undefined }, 'serving the leader API');
      if (config.appHealthUrl)
        health = watchAppHealth({
          url: config.appHealthUrl,
          unhealthySeconds: config.appUnhealthySeconds,
          resignPauseMs: config.resignPauseSeconds * 1000,
          source: shards ?? (source as LeaderSource),
          clock,
          logger: log,
        });
      elector?.start();
      shards?.start();
      return address;
    },
    async stop() {
      health?.stop();
      await elector?.stop();
      await shards?.stop();
      await Promise.all([app.close(), probes?.close()]);
    },
  };
}

/**
 * The last Lease API failure, for /readyz (cleared by an acquisition), and the RBAC hint logged once per
 * spell of 403s (the elector already logs every failure, throttled).
 */
function trackApiErrors(log: Logger): {
  hooks: Partial<ElectorHooks>;
  last(): { code: string; message: string } | undefined;
} {
  let last: { code: string; message: string } | undefined;
  return {
    last: () => last,
    hooks: {
      apiError(err) {
        if (!(err instanceof KubernetesApiError)) return;
        const newlyForbidden = err.httpStatus === 403 && last?.code !== err.code;
        last = { code: err.code, message: err.message };
        if (newlyForbidden)
          log.error(
            { code: err.code },
            `${err.message}; grant get/watch/update on leases (see docs/errors.md)`,
          );
      },
      acquired: () => {
        last = undefined;
      },
    },
  };
}
