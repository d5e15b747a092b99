import pino, { type Logger } from 'pino';

/** The root logger: JSON lines, or pino-pretty for a human at a terminal. Tokens never reach it. */
export function createLogger(options: { level: string; format: 'json' | 'pretty' | 'auto' }): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  return pino({
    level: options.level,
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
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
  });
}
