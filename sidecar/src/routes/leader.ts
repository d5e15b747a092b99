import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ElectionSnapshot } from '../election-state.ts';
import { LeaseholdError } from '../errors.ts';
import { sessionIdPattern } from '../promise-ledger.ts';
import { type Answering, answer } from './answers.ts';
import { errorBodySchema, leaderBodySchema } from './leader-body.ts';

export interface LeaderRouteOptions extends Answering {
  resignPauseSeconds: number;
}

const sessionSchema = { type: 'string', pattern: sessionIdPattern.source } as const;

const leaderQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    afterVersion: { type: 'integer', minimum: 0 },
    timeoutSeconds: { type: 'number', minimum: 0, maximum: 300, default: 30 },
    session: sessionSchema,
  },
} as const;

interface LeaderQuery {
  afterVersion?: number;
  timeoutSeconds: number;
  session?: string;
}

/** The header that says how long a "leader" answer may be acted on, for clients that skip the body. */
export const validForHeader = 'leasehold-valid-for-ms';

/** GET /leader, GET /is-leader (long-poll capable), POST /leader/resign, POST /leader/activity. */
export async function leaderRoutes(app: FastifyInstance, options: LeaderRouteOptions): Promise<void> {
  const { source, ledger } = options;

  /** Waits (bounded) until the snapshot version moves past `afterVersion`, for long-polling clients. */
  const waitForChange = (afterVersion: number | undefined, timeoutSeconds: number): Promise<void> => {
    const current: ElectionSnapshot = source.snapshot();
    if (afterVersion === undefined || current.version !== afterVersion || timeoutSeconds === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const listener = (): void => finish();
      const timer = setTimeout(() => finish(), Math.ceil(timeoutSeconds * 1000));
      const finish = (): void => {
        clearTimeout(timer);
        source.off('change', listener);
        resolve();
      };
      source.on('change', listener);
    });
  };

  const reply = async (query: LeaderQuery, response: FastifyReply, statusFromLeadership: boolean) => {
    if (query.session !== undefined && !ledger.has(query.session)) {
      throw new LeaseholdError('LEASEHOLD_SESSION_NOT_FOUND', `"${query.session}"`);
    }
    await waitForChange(query.afterVersion, query.timeoutSeconds);
    // Computed and promised now, after any wait: the answer is as fresh as the promise it makes.
    const { body } = answer(options, query.session);
    response.header('cache-control', 'no-store').header(validForHeader, String(body.validForMs));
    if (statusFromLeadership) response.code(body.isLeader ? 200 : 503);
    return body;
  };

  app.get(
    '/leader',
    { schema: { querystring: leaderQuery, response: { 200: leaderBodySchema, 404: errorBodySchema } } },
    async (request, response) => reply(request.query as LeaderQuery, response, false),
  );

  app.get(
    '/is-leader',
    {
      schema: {
        querystring: leaderQuery,
        response: { 200: leaderBodySchema, 503: leaderBodySchema, 404: errorBodySchema },
      },
    },
    async (request, response) => reply(request.query as LeaderQuery, response, true),
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
    async (request, response) => {
      const { pauseSeconds = options.resignPauseSeconds } = request.query as { pauseSeconds?: number };
      await source.resign(pauseSeconds * 1000);
      response.code(202);
      return { resigned: true, pauseSeconds, leader: answer(options).body };
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
          properties: { session: sessionSchema, active: { type: 'boolean' } },
        },
        response: { 204: { type: 'null' }, 404: errorBodySchema },
      },
    },
    async (request, response) => {
      const { session, active } = request.body as { session: string; active: boolean };
      if (!ledger.has(session)) throw new LeaseholdError('LEASEHOLD_SESSION_NOT_FOUND', `"${session}"`);
      ledger.report(session, active);
      response.code(204);
    },
  );
}
