import pino, { type Logger } from 'pino';

const options = (level: string) => ({
  level,
  // pid and hostname say nothing in a container; each child logger names its component.
  base: undefined,
  redact: {
    paths: [
      'token',
      '*.token',
      'authorization',
      '*.authorization',
      'headers.authorization',
      '*.headers.authorization',
      'kubeconfig.users',
    ],
    censor: '[redacted]',
  },
});

/**
 * The root logger: JSON lines, or pino-pretty for a human at a terminal (loaded only then, and run in
 * this thread: a worker-thread transport cannot find its target inside a bundle). Tokens never reach it.
 */
export async function createLogger(settings: {
  level: string;
  format: 'json' | 'pretty' | 'auto';
}): Promise<Logger> {
  const pretty =
    settings.format === 'pretty' || (settings.format === 'auto' && process.stdout.isTTY === true);
  if (!pretty) return pino(options(settings.level));
  const { default: prettyStream } = await import('pino-pretty');
  return pino(
    options(settings.level),
    prettyStream({ translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true }),
  );
}
