import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const SlackNotifierConfig = z.object({
  ...sharedEnv,
  HEALTH_PORT: portEnv(9103),
  /** The nginx proxy that holds the real webhook URL; unset means the log "Slack sink". */
  SLACK_INTERNAL_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  SLACK_DEFAULT_CHANNEL: z.string().trim().min(1).default('#general'),
  /** Connect, headers and body timeout of one Slack request. */
  SLACK_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** How long the active rules are reused before they are read again. */
  SLACK_RULES_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  /** A message may hold a database connection while it sends: keep this near DATABASE_POOL_SIZE. */
  NOTIFIER_PREFETCH: z.coerce.number().int().positive().default(10),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
});
export type SlackNotifierConfig = z.infer<typeof SlackNotifierConfig>;
