import { z } from 'zod';

/** Environment variables every notifier (Slack, email, webhook) reads besides sharedEnv. */
export const notifierEnv = {
  /**
   * Bytes of delivered `alert.processed` messages decoded and parsed at once (a parsed message
   * takes several times its bytes): past it, delivered messages wait as their bytes, unparsed,
   * and with the prefetch reached the broker keeps the rest. A bigger message goes alone.
   */
  NOTIFIER_MAX_PENDING_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
};

/** Environment variables every service shares (docs/contracts.md §2.1). */
export const sharedEnv = {
  RABBITMQ_URL: z
    .string()
    .regex(/^amqps?:\/\//, 'must start with amqp:// or amqps://')
    .optional(),
  /**
   * Every node of a RabbitMQ cluster, comma-separated full URLs (vhost included): a service
   * connects to one of them and moves to the next when it is lost. Wins over RABBITMQ_URL and the parts.
   */
  RABBITMQ_URLS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(
      z
        .array(z.string().regex(/^amqps?:\/\/[^/?#]/, 'each URL must start with amqp:// or amqps:// and name a host'))
        .min(1, 'must list at least one amqp:// URL')
        .refine((urls) => new Set(urls).size === urls.length, 'lists the same URL twice'),
    )
    .optional(),
  RABBITMQ_HOST: z.string().min(1).default('localhost'),
  RABBITMQ_PORT: z.coerce.number().int().min(1).max(65535).default(5672),
  RABBITMQ_VHOST: z.string().min(1).default('/'),
  RABBITMQ_USER: z.string().min(1).default('guest'),
  RABBITMQ_PASSWORD: z.string().default('guest'),
  RABBITMQ_HEARTBEAT: z.coerce.number().int().min(0).default(10),
  RABBITMQ_RETRY_DELAY: z.coerce.number().positive().default(1),
  /**
   * Delays of the retry queues `<queue>.retry.1..N` (comma-separated milliseconds): a failed
   * message is retried after each in turn, then dead-lettered. Part of the topology: every
   * service of one vhost must use the same list (RabbitMQ refuses a queue re-declared with
   * another TTL).
   */
  MESSAGE_RETRY_DELAYS_MS: z
    .string()
    .default('1000,5000,30000,120000')
    .transform((value) => value.split(',').map((part) => Number(part.trim())))
    .pipe(z.array(z.number().int('each delay must be a whole number of milliseconds').positive('each delay must be positive')).min(1).max(10)),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@localhost:5432/sentryhub'),
  /** How many distinct statement texts a service prepares on each PostgreSQL connection (0: none, for a pooler that cannot keep prepared statements). */
  DATABASE_PREPARED_STATEMENTS: z.coerce.number().int().min(0).default(100),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

export const portEnv = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export type ConfigResult<T> = { ok: true; config: T } | { ok: false; problems: string[] };

/** Parses the environment with a service's schema; each problem names its variable. */
export function parseConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): ConfigResult<z.infer<S>> {
  // An empty variable means "not set", as in most shells' `VAR= cmd` usage.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
  };
}

/** Parses the environment or stops the process with exit code 1 and one line per problem. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = parseConfig(schema, env);
  if (result.ok) return result.config;
  for (const problem of result.problems) process.stderr.write(`invalid configuration: ${problem}\n`);
  process.exit(1);
}

export interface RabbitmqParts {
  RABBITMQ_URLS?: readonly string[] | undefined;
  RABBITMQ_URL?: string | undefined;
  RABBITMQ_HOST: string;
  RABBITMQ_PORT: number;
  RABBITMQ_VHOST: string;
  RABBITMQ_USER: string;
  RABBITMQ_PASSWORD: string;
  RABBITMQ_HEARTBEAT: number;
}

/** The URL with the heartbeat applied when it names none. */
function withHeartbeat(value: string, heartbeat: number): string {
  const url = new URL(value);
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(heartbeat));
  return url.toString();
}

/**
 * Every broker address, in the configured order, each with the heartbeat applied: RABBITMQ_URLS
 * when set (the nodes of a cluster), else RABBITMQ_URL, else the URL built from the parts.
 */
export function rabbitmqUrls(config: RabbitmqParts): string[] {
  if (config.RABBITMQ_URLS && config.RABBITMQ_URLS.length > 0) return config.RABBITMQ_URLS.map((url) => withHeartbeat(url, config.RABBITMQ_HEARTBEAT));
  return [
    withHeartbeat(
      config.RABBITMQ_URL ??
        `amqp://${encodeURIComponent(config.RABBITMQ_USER)}:${encodeURIComponent(config.RABBITMQ_PASSWORD)}@${config.RABBITMQ_HOST}:${config.RABBITMQ_PORT}/${encodeURIComponent(config.RABBITMQ_VHOST)}`,
      config.RABBITMQ_HEARTBEAT,
    ),
  ];
}

/** The first broker address of rabbitmqUrls (RABBITMQ_URLS' first, else RABBITMQ_URL, else the parts), heartbeat applied. */
export function rabbitmqUrl(config: RabbitmqParts): string {
  return rabbitmqUrls(config)[0] ?? '';
}

/** The URL with its password hidden (an unparseable one never echoed), for logs and errors. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable url>';
  }
}
