import { KubeConfig } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import { watchAppHealth } from './app-health.ts';
import { AppSessions } from './app-sessions.ts';
import { systemClock } from './clock.ts';
import { type Config, loadConfig } from './config.ts';
import { Elector } from './elector.ts';
import { combineHooks } from './elector-hooks.ts';
import { KubernetesApiError, LeaseholdError } from './errors.ts';
import { kubeIntegrationHooks } from './kube-events.ts';
import { type LeaderSource, SingleReplicaLeader } from './leader-source.ts';
import { HttpLeaseApi, KubeRequester } from './lease/api.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';

/** Runs one sidecar until SIGTERM/SIGINT; returns the process exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    const { optionSpecs } = await import('./config-schema.ts');
    process.stdout.write('Usage: leasehold-sidecar [flags]   (every flag also reads from its env var)\n\n');
    for (const spec of optionSpecs) {
      const def = 'default' in spec ? ` (default ${spec.default})` : '';
      process.stdout.write(`  ${spec.flag.padEnd(32)} ${spec.env.padEnd(30)} ${spec.description}${def}\n`);
    }
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig({ env, argv });
  } catch (err) {
    if (!(err instanceof LeaseholdError)) throw err;
    process.stderr.write(
      `leasehold-sidecar: ${err.code}: ${err.message}\n${err.details.map((d) => `  - ${d}\n`).join('')}`,
    );
    return 2;
  }
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const log = logger.child({ lease: `${config.namespace}/${config.leaseName}`, identity: config.identity });
  try {
    return await run(config, log);
  } catch (err) {
    const code = err instanceof LeaseholdError ? err.code : 'LEASEHOLD_INTERNAL';
    log.fatal({ err, code }, 'sidecar failed');
    return 1;
  }
}

async function run(config: Config, log: Logger): Promise<number> {
  const lease = `${config.namespace}/${config.leaseName}`;
  const sessions = new AppSessions();
  let lastApiError: { code: string; message: string } | undefined;
  let source: LeaderSource;
  let elector: Elector | undefined;
  let snapshot = (): ReturnType<LeaderSource['snapshot']> => source.snapshot();
  const metrics = createMetrics({
    leaseName: config.leaseName,
    now: () => systemClock.now(),
    snapshot: () => snapshot(),
  });

  if (!config.enableLeaderElection) {
    log.warn(
      'LEADER ELECTION DISABLED (ENABLE_LEADER_ELECTION=false): this replica always reports itself leader',
    );
    source = new SingleReplicaLeader(config.identity, config.leaseDurationSeconds);
    metrics.hooks.stateChanged?.(source.snapshot());
  } else {
    const kubeConfig = new KubeConfig();
    try {
      if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
      else kubeConfig.loadFromCluster();
    } catch (err) {
      throw new LeaseholdError('LEASEHOLD_KUBECONFIG', config.kubeconfig ?? 'in-cluster', { cause: err });
    }
    const requester = new KubeRequester(kubeConfig);
    const hooks = combineHooks(
      metrics.hooks,
      kubeIntegrationHooks({ ...config, requester, logger: log.child({ component: 'kube' }) }),
      {
        apiError(err) {
          if (!(err instanceof KubernetesApiError)) return;
          // The RBAC hint once per spell of 403s; the elector already logs every failure, throttled.
          const newlyForbidden = err.httpStatus === 403 && lastApiError?.code !== err.code;
          lastApiError = { code: err.code, message: err.message };
          if (newlyForbidden)
            log.error(
              { code: err.code },
              `${err.message}; grant get/watch/update on leases (see docs/errors.md)`,
            );
        },
        acquired: () => {
          lastApiError = undefined;
        },
        waitForAppIdle: async () => {
          const idle = await sessions.waitUntilIdle(config.shutdownAppTimeoutSeconds * 1000);
          if (!idle)
            log.warn(
              { active: sessions.activeCount },
              'app still busy after SHUTDOWN_APP_TIMEOUT_SECONDS; releasing anyway',
            );
        },
      },
    );
    elector = new Elector({
      config,
      api: new HttpLeaseApi(requester, { namespace: config.namespace, name: config.leaseName }),
      clock: systemClock,
      logger: log.child({ component: 'elector' }),
      hooks,
    });
    source = elector;
  }
  snapshot = () => source.snapshot();

  const common = { source, registry: metrics.registry, lease, lastApiError: () => lastApiError, logger: log };
  const { app } = await buildApp({ ...common, sessions, resignPauseSeconds: config.resignPauseSeconds });
  const servers: FastifyInstance[] = [app];
  const address = await app.listen({ host: config.listenAddress, port: config.port });
  if (config.probePort !== 0) {
    const probes = (await buildApp({ ...common, probesOnly: true })).app;
    servers.push(probes);
    await probes.listen({ host: config.probeListenAddress, port: config.probePort });
  }
  log.info({ address, probePort: config.probePort || undefined }, 'serving the leader API');
  const health = config.appHealthUrl
    ? watchAppHealth({
        url: config.appHealthUrl,
        unhealthySeconds: config.appUnhealthySeconds,
        resignPauseMs: config.resignPauseSeconds * 1000,
        source,
        clock: systemClock,
        logger: log,
      })
    : undefined;
  elector?.start();

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'shutting down: demoting, waiting for the app, releasing the lease');
  health?.stop();
  await elector?.stop();
  await Promise.all(servers.map((server) => server.close()));
  log.info('stopped');
  return 0;
}
