import { notifierEnv, portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const EmailNotifierConfig = z.object({
  ...sharedEnv,
  ...notifierEnv,
  HEALTH_PORT: portEnv(9104),
  /** smtp:// or smtps://, with auth and TLS as the URL says; unset means emails go to the log. */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
    .optional(),
  EMAIL_FROM: z.string().min(3).default('SentryHub <sentryhub@localhost>'),
  /** Attempts per email before it is marked failed (a requeue gives it as many again). */
  EMAIL_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  /** First back-off between attempts; doubles each time, up to 10 minutes. */
  EMAIL_RETRY_DELAY_MS: z.coerce.number().int().min(0).default(30_000),
  /** How often the sender looks for due emails (it is also woken when one is queued). */
  EMAIL_POLL_MS: z.coerce.number().int().positive().default(1_000),
  /** Completed emails older than this are deleted; failed ones are kept until requeued or deleted. */
  EMAIL_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  EMAIL_RULES_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  SMTP_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(5),
});
export type EmailNotifierConfig = z.infer<typeof EmailNotifierConfig>;
