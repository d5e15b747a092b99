export { type AppOptions, buildApp } from './app.ts';
export { AppSessions } from './app-sessions.ts';
export { type Config, loadConfig } from './config.ts';
export { type ElectionSnapshot, Elector } from './elector.ts';
export { formatMicroTime } from './lease/micro-time.ts';
export { main } from './main.ts';
