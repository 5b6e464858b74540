import { DEFAULT_EXTERNAL_QUEUE, DEFAULT_INTAKE_MAX_FUTURE, DurationEnv } from '@sentryhub/contracts';
import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';
import { readCaBundle } from './ca-bundle';

export const ConsumerConfig = z.object({
  ...sharedEnv,
  HEALTH_PORT: portEnv(9101),
  RABBITMQ_EXTERNAL_QUEUE: z.string().min(1).default(DEFAULT_EXTERNAL_QUEUE),
  RABBITMQ_PREFETCH: z.coerce.number().int().positive().default(50),
  /** Larger bodies are dead-lettered with the reason, never republished: the HTTP gateway's 413 limit. */
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  /** How far after its receipt an alert's startsAt or endsAt may be (`30s`, `10m`, `1h`): later ones are refused. In ms. */
  INTAKE_MAX_FUTURE: DurationEnv(DEFAULT_INTAKE_MAX_FUTURE),
  /** A CA bundle (PEM) that an amqps:// broker's certificate must chain to; checked at start-up. */
  RABBITMQ_CA_FILE: z
    .string()
    .min(1)
    .optional()
    .superRefine((path, context) => {
      if (path === undefined) return;
      try {
        readCaBundle(path);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
});
export type ConsumerConfig = z.infer<typeof ConsumerConfig>;
