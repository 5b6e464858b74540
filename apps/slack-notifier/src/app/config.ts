import { notifierEnv, portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const SlackNotifierConfig = z.object({
  ...sharedEnv,
  ...notifierEnv,
  HEALTH_PORT: portEnv(9103),
  /** The nginx proxy that holds the real webhook URL; unset means the log "Slack sink". */
  SLACK_INTERNAL_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  SLACK_DEFAULT_CHANNEL: z.string().trim().min(1).default('#general'),
  /** Connect, headers and body timeout of one Slack request. */
  SLACK_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** How long the active rules are reused before they are read again. */
  SLACK_RULES_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  /**
   * Messages per channel per second (docs/contracts.md §7.1). What waits for a channel's next slot
   * goes out as one digest message. Per process: with several replicas the nginx proxy's
   * limit_req and the 429 handling bound the total.
   */
  SLACK_MAX_PER_SECOND: z.coerce.number().positive().max(1_000).default(1),
  /**
   * Unacked messages at once. Only messages in flight can be folded into a digest, so one hot
   * channel takes at most prefetch x (changes per message) per slot, capped by
   * NOTIFIER_MAX_PENDING_CHANGES. At a steady pace the processor's events carry a few changes
   * each: 25 held a hot channel to ~1,000 changes/s (at 2,000 alerts/s it fell 17 s behind in
   * the stack benchmark). Memory is bounded by the change budget for prepared changes and
   * by the byte budget for parsed messages; the rest of the prefetch waits as bytes.
   */
  NOTIFIER_PREFETCH: z.coerce.number().int().positive().default(200),
  /**
   * Changes held at once over all messages in flight (each message carries one change or a
   * whole processor batch): past it, delivered messages wait unprepared and, with the prefetch
   * reached, the broker keeps the rest. A message with more changes goes alone.
   */
  NOTIFIER_MAX_PENDING_CHANGES: z.coerce.number().int().positive().default(2_000),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
});
export type SlackNotifierConfig = z.infer<typeof SlackNotifierConfig>;
