export { type AppOptions, buildApp } from './app.ts';
export { type Config, loadConfig } from './config.ts';
export type { ElectionSnapshot } from './election-state.ts';
export { Elector } from './elector.ts';
export { formatMicroTime } from './lease/micro-time.ts';
export { main } from './main.ts';
export { PromiseLedger } from './promise-ledger.ts';
export { type LeaderBody, leaderBodySchema } from './routes/leader-body.ts';
export { buildSidecar } from './sidecar.ts';
