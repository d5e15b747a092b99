// The floor for the `/leader` latency figure: a bare node:http server on the same machine, started with the
// sidecar's Node flags, answering a body of the same shape and size. What the sidecar adds is the gap.
import { createServer } from 'node:http';

const body = JSON.stringify({
  name: 'standalone',
  holder: 'standalone_3f9c2a51',
  identity: 'standalone_3f9c2a51',
  isLeader: true,
  epoch: 1,
  validForMs: 2000,
  leaseDurationSeconds: 15,
  observedAt: '2026-01-01T00:00:00.000000Z',
  role: 'leader',
  known: true,
  version: 3,
  lease: 'bench/bench-standalone',
});
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(body);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
