import type { FastifyReply } from 'fastify';
import { LeaseholdError } from '../errors.ts';

export interface EventStreamLimits {
  maxWatchers: number;
  /** Live count of open streams (every route's), for /metrics and leak tests. */
  stats: { openWatchers: number };
}

export interface EventStream {
  send(event: string, data: unknown, id?: number): void;
}

/**
 * Turns the reply into a Server-Sent Events stream with a `: heartbeat` comment every `heartbeatMs`;
 * `onClose` runs once when the client goes away. Refuses (503) beyond `maxWatchers` open streams.
 */
export function openEventStream(
  reply: FastifyReply,
  limits: EventStreamLimits,
  heartbeatMs: number,
  onClose: () => void,
): EventStream {
  if (limits.stats.openWatchers >= limits.maxWatchers)
    throw new LeaseholdError('LEASEHOLD_TOO_MANY_WATCHERS', `limit ${limits.maxWatchers}`);
  limits.stats.openWatchers++;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
  heartbeat.unref();
  let closed = false;
  const cleanup = (): void => {
    if (closed) return;
    closed = true;
    limits.stats.openWatchers--;
    clearInterval(heartbeat);
    onClose();
  };
  res.on('close', cleanup);
  res.on('error', cleanup);
  return {
    send: (event, data, id) => {
      res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
  };
}
