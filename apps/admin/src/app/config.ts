import { DEFAULT_INTAKE_MAX_FUTURE, DEFAULT_RESOLVE_TIMEOUT, DurationEnv } from '@sentryhub/contracts';
import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const AdminConfig = z.object({
  ...sharedEnv,
  PORT: portEnv(8081),
  HOST: z.string().default('0.0.0.0'),
  /** Creates the first admin key at start-up when no key with this secret exists yet. */
  ADMIN_BOOTSTRAP_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  SLACK_INTERNAL_ENDPOINT: z.url().optional(),
  SLACK_DEFAULT_CHANNEL: z.string().min(1).default('#general'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** `POST /api/v2/alerts`: how far after its receipt an alert's startsAt or endsAt may be, as the gateway's. In ms. */
  INTAKE_MAX_FUTURE: DurationEnv(DEFAULT_INTAKE_MAX_FUTURE),
  /** `POST /api/v2/alerts`: the lease of an alert posted without endsAt, as the gateway's. In ms. */
  RESOLVE_TIMEOUT: DurationEnv(DEFAULT_RESOLVE_TIMEOUT).refine((ms) => ms > 0, 'must be a duration above 0 (such as 5m)'),
  /** Queue management routes (`/api/v1/queues`, `/api/v1/dead-letters`, admin role); they answer 404 while false. */
  RABBITMQ_MANAGEMENT_ENABLED: z.stringbool({ error: 'must be true or false' }).default(false),
  /** The RabbitMQ management plugin's HTTP API (queue statistics, dead-letter inspection). */
  RABBITMQ_MANAGEMENT_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('http://localhost:15672'),
  /** Management API credentials; the broker's user and password (RABBITMQ_URL or RABBITMQ_USER/RABBITMQ_PASSWORD) when unset. */
  RABBITMQ_MANAGEMENT_USER: z.string().min(1).optional(),
  RABBITMQ_MANAGEMENT_PASSWORD: z.string().optional(),
  /**
   * The webhook receivers (the webhook-notifier's file): the names webhook rules may use, and for
   * a rule's test send the URL, headers, parameters and HMAC key from the variables it names.
   */
  WEBHOOK_RECEIVERS_FILE: z.string().trim().min(1).optional(),
  /** `external_url` in webhook bodies the admin previews and test-sends, as the webhook-notifier's. */
  WEBHOOK_EXTERNAL_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('http://localhost:8081'),
});
export type AdminConfig = z.infer<typeof AdminConfig>;
