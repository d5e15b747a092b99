import type { Logger } from 'pino';
import { type Config, loadConfig } from './config.ts';
import { LeaseholdError } from './errors.ts';
import { connect } from './kube/connection.ts';
import { inClusterSource } from './kube/credentials.ts';
import { createLogger } from './logger.ts';
import { buildSidecar } from './sidecar.ts';

/**
 * Runs one sidecar until `stopSignal` resolves (the entry point listens for SIGTERM/SIGINT from its first
 * line, see cli.ts); returns the process exit code.
 */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stopSignal: Promise<NodeJS.Signals>,
): Promise<number> {
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
  const logger = await createLogger({ level: config.logLevel, format: config.logFormat });
  const log = logger.child({ lease: `${config.namespace}/${config.leaseName}`, identity: config.identity });
  try {
    return await run(config, log, env, stopSignal);
  } catch (err) {
    if (err instanceof LeaseholdError) {
      // A known failure (bad kubeconfig, say): what and why, without a stack trace.
      const cause = err.cause instanceof Error ? err.cause.message : undefined;
      log.fatal({ code: err.code, cause }, err.message);
    } else log.fatal({ err, code: 'LEASEHOLD_INTERNAL' }, 'sidecar failed');
    return 1;
  }
}

async function run(
  config: Config,
  log: Logger,
  env: NodeJS.ProcessEnv,
  stopSignal: Promise<NodeJS.Signals>,
): Promise<number> {
  // Told to stop while loading (a pod deleted as it starts): leave without touching the Lease. Loading
  // never yields to the event loop, so let it turn once to deliver a signal that is waiting.
  await new Promise((resolve) => setImmediate(resolve));
  const early = await Promise.race([stopSignal, Promise.resolve(undefined)]);
  if (early) {
    log.info({ signal: early }, 'stopped before starting: the lease was never campaigned for');
    return 0;
  }
  const requester = config.enableLeaderElection
    ? await connect(
        config.kubeconfig
          ? (await import('./kube/kubeconfig-source.ts')).kubeconfigSource(config.kubeconfig)
          : inClusterSource(env),
        log.child({ component: 'kube' }),
      )
    : undefined;
  const sidecar = await buildSidecar(config, { logger: log, requester });
  await sidecar.start();
  const signal = await stopSignal;
  log.info({ signal }, 'shutting down: demoting, keeping promises, releasing the lease');
  await sidecar.stop();
  await requester?.close();
  log.info('stopped');
  return 0;
}
