import { DEFAULT_EXTERNAL_QUEUE } from '@sentryhub/contracts';
import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';
import { readCaBundle } from './ca-bundle';

export const ConsumerConfig = z.object({
  ...sharedEnv,
  HEALTH_PORT: portEnv(9101),
  RABBITMQ_EXTERNAL_QUEUE: z.string().min(1).default(DEFAULT_EXTERNAL_QUEUE),
  RABBITMQ_PREFETCH: z.coerce.number().int().positive().default(50),
  /** A CA bundle (PEM) to trust for amqps:// brokers signed by a private CA; checked at start-up. */
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
