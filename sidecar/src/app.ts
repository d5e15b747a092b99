import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type HTTPMethods,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type Clock, systemClock } from './clock.ts';
import { type ErrorCode, LeaseholdError } from './errors.ts';
import { type HealthSource, leaderHealth } from './health-source.ts';
import type { LeaderSource } from './leader-source.ts';
import type { LoopDelay } from './loop-delay.ts';
import { precompiledRoutes } from './precompiled-routes.ts';
import { PromiseLedger } from './promise-ledger.ts';
import { type CompilersFactory, precompiledCompilers } from './route-compilers.ts';
import { healthRoutes } from './routes/health.ts';
import { leaderRoutes } from './routes/leader.ts';
import { shardRoutes } from './routes/shards.ts';
import { shardsWatchRoute } from './routes/shards-watch.ts';
import { watchRoute } from './routes/watch.ts';
import { wrongModeRoutes } from './routes/wrong-mode.ts';
import type { ShardSet } from './shards/shard-set.ts';

export interface AppOptions {
  /** One Lease: the elector (or the single-replica stand-in). Not used with `shards`. */
  source?: LeaderSource;
  /** What /healthz and /readyz report; default: `source`'s, with `lastApiError`. */
  health?: HealthSource;
  registry: Registry;
  /** `namespace/name` of the Lease, echoed in answers. */
  lease: string;
  /** Where every "leader" answer is recorded as a promise (shared with the elector's hand-off). */
  ledger?: PromiseLedger;
  clock?: Clock;
  /** The longest promise for clients without a gate session. Default 500 ms. */
  sessionlessValidityMs?: number;
  resignPauseSeconds?: number;
  heartbeatMs?: number;
  /** The most event streams open at once (MAX_STREAMS). Default 256. */
  maxWatchers?: number;
  maxEventLoopDelayMs?: number;
  /** The event-loop delay monitor behind /healthz (injectable for tests). */
  loopDelay?: LoopDelay;
  lastApiError?: () => { code: string; message: string } | undefined;
  logger?: Logger;
  /** Serve only /healthz, /readyz and /metrics (the probe listener). */
  probesOnly?: boolean;
  /** The schema compilers; default: the bundle's precompiled ones, or fastify's own from source. */
  compilers?: CompilersFactory;
  /** SHARDS set: /shards answers for these, and the single-Lease routes refuse (409). */
  shards?: ShardSet;
}

// Paths and their methods, so a wrong method gets 405 with Allow instead of 404.
const routeMethods: Record<string, string[]> = {
  '/leader': ['GET', 'HEAD'],
  '/is-leader': ['GET', 'HEAD'],
  '/leader/watch': ['GET', 'HEAD'],
  '/leader/resign': ['POST'],
  '/leader/activity': ['POST'],
  '/shards': ['GET', 'HEAD'],
  '/shards/resign': ['POST'],
  '/shards/activity': ['POST'],
  '/shards/watch': ['GET', 'HEAD'],
  '/healthz': ['GET', 'HEAD'],
  '/readyz': ['GET', 'HEAD'],
  '/metrics': ['GET', 'HEAD'],
};

const probePaths = new Set(['/healthz', '/readyz', '/metrics']);

/** The routes of `routeMethods` whose path `matches`, with their methods (HEAD comes with GET). */
const routesWhere = (matches: (path: string) => boolean): Record<string, HTTPMethods[]> =>
  Object.fromEntries(
    Object.entries(routeMethods)
      .filter(([path]) => matches(path))
      .map(([path, methods]) => [path, methods.filter((m) => m !== 'HEAD') as HTTPMethods[]]),
  );
const singleLeaseRoutes = routesWhere(
  (p) => p === '/leader' || p === '/is-leader' || p.startsWith('/leader/'),
);
const shardRoutesByPath = routesWhere((p) => p === '/shards' || p.startsWith('/shards/'));

// Client errors fastify raises itself keep their status, with a code of ours.
const clientErrorCodes: Record<number, ErrorCode> = {
  413: 'LEASEHOLD_PAYLOAD_TOO_LARGE',
  415: 'LEASEHOLD_UNSUPPORTED_MEDIA_TYPE',
};

/** Builds the HTTP API without listening; tests drive it with app.inject(). */
export async function buildApp(
  options: AppOptions,
): Promise<{ app: FastifyInstance; stats: { openWatchers: number } }> {
  const app = Fastify({
    loggerInstance: options.logger?.child({ component: 'http' }) as FastifyBaseLogger | undefined,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    return503OnClosing: true,
    // A client that sends its request slowly holds a connection for at most this long (headers 5 s, see
    // below); streams are responses, so they are not cut by it.
    requestTimeout: 10_000,
    // Node checks those timeouts every 30 s by default, which lets a slow client hold a socket 35 s.
    http: { connectionsCheckingInterval: 1_000 },
    // Unknown query parameters are an error (400), not silently dropped. Our schemas are fixed, so they are
    // not checked against the meta-schema at each start (compiling it took 40 ms of start-up); ajv's strict
    // compile still rejects a malformed keyword, and every route test with it.
    // Stryker disable next-line BooleanLiteral: start-up time only
    ajv: { customOptions: { removeAdditional: false, validateSchema: false } },
    schemaController: {
      compilersFactory:
        options.compilers ?? (precompiledRoutes ? precompiledCompilers(precompiledRoutes) : undefined),
    },
  });
  app.server.headersTimeout = 5_000;
  const stats = { openWatchers: 0 };
  const clock = options.clock ?? systemClock;
  const answering = {
    ledger: options.ledger ?? new PromiseLedger(clock),
    clock,
    lease: options.lease,
    sessionlessValidityMs: options.sessionlessValidityMs ?? 500,
  };

  app.setErrorHandler((error: FastifyError | LeaseholdError, request, reply) => {
    if (error instanceof LeaseholdError) {
      // Streams close all the time: a refused one may try again shortly, not at once.
      if (error.code === 'LEASEHOLD_TOO_MANY_WATCHERS') reply.header('retry-after', '1');
      reply
        .code(error.statusCode || 500)
        .send({ code: error.code, message: error.message, details: error.details });
      return;
    }
    const status = error.validation ? 400 : (error.statusCode ?? 500);
    if (status >= 400 && status < 500) {
      reply
        .code(status)
        .send({ code: clientErrorCodes[status] ?? 'LEASEHOLD_BAD_REQUEST', message: error.message });
      return;
    }
    request.log.error({ err: error }, 'request failed');
    reply.code(500).send({ code: 'LEASEHOLD_INTERNAL', message: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const served = !options.probesOnly || probePaths.has(path);
    const allowed = served ? routeMethods[path] : undefined;
    if (allowed) {
      reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({
          code: 'LEASEHOLD_METHOD_NOT_ALLOWED',
          message: `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
        });
      return;
    }
    reply
      .code(404)
      .send({ code: 'LEASEHOLD_ROUTE_NOT_FOUND', message: `no route ${request.method} ${path}` });
  });

  const health =
    options.health ?? leaderHealth(options.source as LeaderSource, options.lastApiError ?? (() => undefined));
  await app.register(healthRoutes, {
    health,
    registry: options.registry,
    maxEventLoopDelayMs: options.maxEventLoopDelayMs ?? 2_000,
    loopDelay: options.loopDelay,
  });
  if (!options.probesOnly) {
    // Routes by mode: each mode serves its own routes, and answers the other mode's with 409 and what
    // to ask instead.
    const shards = options.shards;
    if (shards) {
      const shardAnswering = {
        shards,
        namespace: options.lease.split('/')[0] ?? '',
        clock,
        sessionlessValidityMs: answering.sessionlessValidityMs,
      };
      await app.register(shardRoutes, {
        ...shardAnswering,
        resignPauseSeconds: options.resignPauseSeconds ?? 3,
      });
      await app.register(shardsWatchRoute, {
        ...shardAnswering,
        heartbeatMs: options.heartbeatMs ?? 5_000,
        maxWatchers: options.maxWatchers ?? 256,
        stats,
      });
      await app.register(wrongModeRoutes, {
        routes: singleLeaseRoutes,
        error: () => new LeaseholdError('LEASEHOLD_SHARDED', `${shards.shards.length} shards`),
      });
    } else {
      const source = options.source;
      if (!source) throw new Error('buildApp needs a source (one Lease) or shards');
      await app.register(leaderRoutes, {
        ...answering,
        source,
        resignPauseSeconds: options.resignPauseSeconds ?? 3,
      });
      await app.register(watchRoute, {
        ...answering,
        source,
        heartbeatMs: options.heartbeatMs ?? 5_000,
        maxWatchers: options.maxWatchers ?? 256,
        stats,
      });
      await app.register(wrongModeRoutes, {
        routes: shardRoutesByPath,
        error: () => new LeaseholdError('LEASEHOLD_NOT_SHARDED'),
      });
    }
  }
  return { app, stats };
}
