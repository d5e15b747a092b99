import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { HealthSource } from '../health-source.ts';
import { LoopDelay } from '../loop-delay.ts';

export interface HealthOptions {
  health: HealthSource;
  registry: Registry;
  /** Event-loop delay (ms, the worst over the last 10 s) above which /healthz fails. */
  maxEventLoopDelayMs: number;
  /** Injectable for tests. */
  loopDelay?: LoopDelay;
}

const statusSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, reason: { type: 'string' }, code: { type: 'string' } },
} as const;

/** /healthz (liveness), /readyz (Lease state known), /metrics (Prometheus). */
export async function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  const loopDelay = options.loopDelay ?? new LoopDelay();
  loopDelay.start();
  app.addHook('onClose', async () => {
    loopDelay.stop();
  });

  app.get(
    '/healthz',
    { schema: { response: { 200: statusSchema, 503: statusSchema } } },
    async (_request, reply) => {
      // A leader that is still "leader" after its validity ran out means its timers are not running.
      const stuck = options.health.stuck();
      if (stuck) {
        reply.code(503);
        return { status: 'unhealthy', reason: stuck };
      }
      const delayMs = loopDelay.maxMs();
      if (delayMs > options.maxEventLoopDelayMs) {
        reply.code(503);
        return { status: 'unhealthy', reason: `event loop delayed ${Math.round(delayMs)} ms` };
      }
      return { status: 'ok' };
    },
  );

  app.get(
    '/readyz',
    { schema: { response: { 200: statusSchema, 503: statusSchema } } },
    async (_request, reply) => {
      if (options.health.ready()) return { status: 'ok' };
      const error = options.health.problem();
      reply.code(503);
      return {
        status: 'not ready',
        reason: error ? error.message : 'lease state not read from the API yet',
        ...(error ? { code: error.code } : {}),
      };
    },
  );

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.registry.contentType);
    return options.registry.metrics();
  });
}
