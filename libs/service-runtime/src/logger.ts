import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'config.RABBITMQ_PASSWORD',
  'config.RABBITMQ_URL',
  'config.RABBITMQ_URLS',
  'config.DATABASE_URL',
  'config.SMTP_URL',
  'config.WEBHOOK_TOKENS',
  'config.ADMIN_BOOTSTRAP_KEY',
  'key',
  'token',
];

/** pino JSON logs (pretty only on a terminal), with secrets redacted. */
export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  if (process.stdout.isTTY && process.env['NODE_ENV'] !== 'production') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(options);
}
