import type { FastifyInstance, HTTPMethods } from 'fastify';
import type { LeaseholdError } from '../errors.ts';
import { errorBodySchema } from './leader-body.ts';

export interface WrongModeOptions {
  /** The routes of the mode this sidecar is not in, with their methods (HEAD comes with GET). */
  routes: Record<string, HTTPMethods[]>;
  /** The answer (409): what to ask instead. */
  error: () => LeaseholdError;
}

/**
 * The other mode's routes, answering 409 with what to ask instead: a sharded sidecar registers the
 * single-Lease routes this way, a single one the shard routes, so a client of the wrong mode learns why
 * and no route of the mode it is not in is served.
 */
export async function wrongModeRoutes(app: FastifyInstance, options: WrongModeOptions): Promise<void> {
  for (const [url, method] of Object.entries(options.routes)) {
    app.route({
      method,
      url,
      schema: { response: { 409: errorBodySchema } },
      handler: async () => {
        throw options.error();
      },
    });
  }
}
