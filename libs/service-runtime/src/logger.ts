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

const LEVELS: ReadonlySet<string> = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const noop = () => undefined;
/** What a lazy child was made of: the logger it will be a child of, and all its bindings. */
const lazyChildren = new WeakMap<object, { root: Logger; bindings: pino.Bindings }>();

/**
 * `parent.child(bindings)`, made only when it first writes a line at an enabled level (or is
 * asked for anything else). A pino child serialises its bindings when it is made, which on a
 * path taken for every alert costs more than the lines it writes, most of them below the
 * level. A lazy child of a lazy child stays lazy: it is made once, from the first real logger,
 * with the bindings of both.
 */
export function lazyChild(parent: Logger, bindings: pino.Bindings): Logger {
  const known = lazyChildren.get(parent);
  const root = known?.root ?? parent;
  const all = known ? { ...known.bindings, ...bindings } : bindings;
  let child: Logger | undefined;
  const real = () => (child ??= root.child(all));
  const proxy = new Proxy({} as Logger, {
    get(_target, property) {
      if (typeof property === 'string' && LEVELS.has(property) && !root.isLevelEnabled(property)) return noop;
      const logger = real();
      const value: unknown = Reflect.get(logger, property, logger);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(logger) : value;
    },
  });
  lazyChildren.set(proxy, { root, bindings: all });
  return proxy;
}
