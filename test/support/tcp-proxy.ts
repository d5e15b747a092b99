import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'blackhole' | 'refuse' | 'hold';

/**
 * A TCP proxy to the apiserver that a test controls: pass traffic (optionally with added latency),
 * blackhole it (connections stay open, nothing moves: a network partition), refuse it, or hold what
 * clients send (kept, in order, and delivered when the proxy passes again: a request stuck on the way
 * that lands late). TLS goes through untouched, so clients still verify the apiserver's certificate.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #targetPort: number;
  readonly #sockets = new Set<Socket>();
  /** What clients sent while held, per upstream socket, in order. */
  readonly #held = new Map<Socket, Buffer[]>();
  mode: ProxyMode = 'pass';
  latencyMs = 0;
  port = 0;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#server = createServer((client) => this.#accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this.port;
  }

  /** Switches mode; leaving 'pass' cuts every open connection so nothing in flight completes. */
  set(mode: ProxyMode, latencyMs = 0): void {
    // Connections that lived through a blackhole may have lost bytes: end them all on the way back.
    if (this.mode === 'blackhole' && mode !== 'blackhole')
      for (const socket of this.#sockets) socket.destroy();
    this.mode = mode;
    this.latencyMs = latencyMs;
    if (mode === 'refuse' || mode === 'blackhole')
      for (const socket of this.#sockets) mode === 'refuse' ? socket.destroy() : socket.pause();
    if (mode === 'pass') {
      for (const [upstream, chunks] of this.#held) for (const chunk of chunks) upstream.write(chunk);
      this.#held.clear();
    }
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(this.#targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      // As every HTTP client and server does: with Nagle on, a small write waits for the ACK of the last,
      // which the peer delays by 40 ms — a latency the proxy added to every hand-over it carried.
      socket.setNoDelay(true);
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    if (this.mode === 'blackhole') {
      client.pause();
      upstream.pause();
    }
    this.#pipe(client, upstream, true);
    this.#pipe(upstream, client, false);
  }

  #pipe(from: Socket, to: Socket, fromClient: boolean): void {
    from.on('data', (chunk) => {
      if (this.mode === 'blackhole') return;
      if (this.mode === 'hold' && fromClient) {
        this.#held.set(to, [...(this.#held.get(to) ?? []), chunk]);
        return;
      }
      if (this.latencyMs > 0) setTimeout(() => to.writable && to.write(chunk), this.latencyMs);
      else if (to.writable) to.write(chunk);
    });
    from.on('end', () => to.end());
  }
}
