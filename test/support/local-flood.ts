// What a misbehaving app in the sidecar's own pod can throw at it over loopback: streams it never closes,
// requests it sends a byte at a time, and a broken gate that reconnects without any backoff. Used by the
// local flood test and by the benchmarks.
import { type ClientRequest, request } from 'node:http';
import { connect, type Socket } from 'node:net';

/** `/leader` latencies in ms, `count` requests one after another. */
export async function leaderLatencies(url: string, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await (await fetch(`${url}/leader`)).text();
    latencies.push(performance.now() - started);
  }
  return latencies;
}

export interface OpenedStream {
  status: number;
  /** The error code of a refusal (a JSON body), '' for a stream. */
  code: string;
  retryAfter: string | undefined;
  request: ClientRequest;
}

/** Opens one gate stream; resolves once the response head (and for 200 the hello) arrived. */
export function openStream(port: number, path = '/leader/watch?gate=true'): Promise<OpenedStream> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      const retryAfter = res.headers['retry-after'];
      if (status !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const code = (JSON.parse(body || '{}') as { code?: string }).code ?? '';
          resolve({ status, code, retryAfter, request: req });
        });
        return;
      }
      res.once('data', () => resolve({ status, code: '', retryAfter, request: req }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens `count` streams, 32 at a time. */
export async function openStreams(port: number, count: number): Promise<OpenedStream[]> {
  const opened: OpenedStream[] = [];
  for (let i = 0; i < count; i += 32)
    opened.push(
      ...(await Promise.all(Array.from({ length: Math.min(32, count - i) }, () => openStream(port)))),
    );
  return opened;
}

export interface SlowClient {
  socket: Socket;
  openedAt: number;
  /** When the server closed the connection (performance.now), once it has. */
  closedAt: Promise<number>;
}

/** A client that sends its request headers one short line a second and never finishes them. */
export function slowClient(port: number): SlowClient {
  const socket = connect(port, '127.0.0.1');
  const openedAt = performance.now();
  let line = 0;
  const drip = setInterval(() => socket.write(`x-slow-${line++}: 1\r\n`), 1_000);
  socket.on('connect', () => socket.write('GET /leader HTTP/1.1\r\nhost: 127.0.0.1\r\n'));
  socket.on('error', () => {});
  socket.resume();
  const closedAt = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(drip);
      resolve(performance.now());
    }),
  );
  return { socket, openedAt, closedAt };
}

export interface StormResult {
  attempts: number;
  byStatus: Record<string, number>;
}

/**
 * A broken gate: opens `/leader/watch` with a session, drops it at the first byte, and opens it again at
 * once, without backoff, from `parallel` loops, until `durationMs` has passed.
 */
export async function reconnectStorm(port: number, durationMs: number, parallel = 4): Promise<StormResult> {
  const result: StormResult = { attempts: 0, byStatus: {} };
  const end = performance.now() + durationMs;
  const loop = async (n: number) => {
    while (performance.now() < end) {
      const opened = await openStream(port, `/leader/watch?gate=true&session=storm-${n}`);
      opened.request.destroy();
      result.attempts++;
      result.byStatus[opened.status] = (result.byStatus[opened.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: parallel }, (_, n) => loop(n)));
  return result;
}
