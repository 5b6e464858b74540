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
/** A lazy child answers this key with what it is made of: the logger it will be a child of, and all its bindings. */
const LAZY_SOURCE = Symbol('lazy child source');
interface LazySource {
  root: Logger;
  bindings: pino.Bindings;
}

/**
 * `parent.child(bindings)`, made only when it first writes a line at an enabled level (or is
 * asked for anything else). A pino child serialises its bindings when it is made, which on a
 * path taken for every alert costs more than the lines it writes, most of them below the
 * level. A lazy child of a lazy child stays lazy: it is made once, from the first real logger,
 * with the bindings of both. What a lazy child is made of is read through the proxy itself (a
 * symbol key), not kept in a side table: a WeakMap entry per child cost nine times the rest.
 */
export function lazyChild(parent: Logger, bindings: pino.Bindings): Logger {
  const known = (parent as unknown as Record<symbol, LazySource | undefined>)[LAZY_SOURCE];
  const source: LazySource = known ? { root: known.root, bindings: { ...known.bindings, ...bindings } } : { root: parent, bindings };
  let child: Logger | undefined;
  return new Proxy({} as Logger, {
    get(_target, property) {
      if (property === LAZY_SOURCE) return source;
      if (typeof property === 'string' && LEVELS.has(property) && !source.root.isLevelEnabled(property)) return noop;
      const logger = (child ??= source.root.child(source.bindings));
      const value: unknown = Reflect.get(logger, property, logger);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(logger) : value;
    },
  });
}
