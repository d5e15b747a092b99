export { buildApp, type AppOptions } from './app.ts';
export { type Config, loadConfig } from './config.ts';
export { Elector, type ElectionSnapshot } from './elector.ts';
export { formatMicroTime } from './lease/micro-time.ts';
export { main } from './main.ts';
