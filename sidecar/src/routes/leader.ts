import type { FastifyInstance } from 'fastify';
import type { AppSessions } from '../app-sessions.ts';
import type { ElectionSnapshot } from '../elector.ts';
import { LeaseholdError } from '../errors.ts';
import type { LeaderSource } from '../leader-source.ts';
import { errorBodySchema, leaderBody, leaderBodySchema } from './leader-body.ts';

export interface LeaderRouteOptions {
  source: LeaderSource;
  sessions: AppSessions;
  lease: string;
  resignPauseSeconds: number;
  heartbeatMs: number;
}

const longPollQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    afterVersion: { type: 'integer', minimum: 0 },
    timeoutSeconds: { type: 'number', minimum: 0, maximum: 300, default: 30 },
  },
} as const;

/** GET /leader, GET /is-leader (long-poll capable), POST /leader/resign, POST /leader/activity. */
export async function leaderRoutes(app: FastifyInstance, options: LeaderRouteOptions): Promise<void> {
  const { source, sessions, lease } = options;
  const answer = (snapshot: ElectionSnapshot) => leaderBody(snapshot, lease);

  /** Waits (bounded) until the snapshot version moves past `afterVersion`, for long-polling clients. */
  const waitForChange = (
    afterVersion: number | undefined,
    timeoutSeconds: number,
  ): Promise<ElectionSnapshot> => {
    const current = source.snapshot();
    if (afterVersion === undefined || current.version !== afterVersion || timeoutSeconds === 0) {
      return Promise.resolve(current);
    }
    return new Promise((resolve) => {
      const listener = (): void => finish();
      const timer = setTimeout(() => finish(), timeoutSeconds * 1000);
      const finish = (): void => {
        clearTimeout(timer);
        source.off('change', listener);
        resolve(source.snapshot());
      };
      source.on('change', listener);
    });
  };

  app.get(
    '/leader',
    { schema: { querystring: longPollQuery, response: { 200: leaderBodySchema } } },
    async (request, reply) => {
      const { afterVersion, timeoutSeconds } = request.query as {
        afterVersion?: number;
        timeoutSeconds: number;
      };
      reply.header('cache-control', 'no-store');
      return answer(await waitForChange(afterVersion, timeoutSeconds));
    },
  );

  app.get(
    '/is-leader',
    { schema: { querystring: longPollQuery, response: { 200: leaderBodySchema, 503: leaderBodySchema } } },
    async (request, reply) => {
      const { afterVersion, timeoutSeconds } = request.query as {
        afterVersion?: number;
        timeoutSeconds: number;
      };
      const snapshot = await waitForChange(afterVersion, timeoutSeconds);
      reply.header('cache-control', 'no-store').code(snapshot.isLeader ? 200 : 503);
      return answer(snapshot);
    },
  );

  app.post(
    '/leader/resign',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { pauseSeconds: { type: 'number', minimum: 0, maximum: 3600 } },
        },
        response: {
          202: {
            type: 'object',
            properties: {
              resigned: { type: 'boolean' },
              pauseSeconds: { type: 'number' },
              leader: leaderBodySchema,
            },
          },
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const { pauseSeconds = options.resignPauseSeconds } = request.query as { pauseSeconds?: number };
      await source.resign(pauseSeconds * 1000);
      reply.code(202);
      return { resigned: true, pauseSeconds, leader: answer(source.snapshot()) };
    },
  );

  app.post(
    '/leader/activity',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['session', 'active'],
          properties: {
            session: { type: 'string', minLength: 1, maxLength: 64 },
            active: { type: 'boolean' },
          },
        },
        response: { 204: { type: 'null' }, 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { session, active } = request.body as { session: string; active: boolean };
      if (!sessions.has(session)) {
        throw new LeaseholdError('LEASEHOLD_SESSION_NOT_FOUND', `"${session}"`);
      }
      sessions.setActive(session, active);
      reply.code(204);
    },
  );
}
