import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';
import { DEFAULT_EVENT_MAX_BYTES } from './outbox-relay';
import { retentionEnv } from './retention';

export const ProcessorConfig = z.object({
  ...sharedEnv,
  HEALTH_PORT: portEnv(9102),
  /** Unacked messages the broker may push ahead: enough to fill the next batch while one is written. */
  PROCESSOR_PREFETCH: z.coerce.number().int().positive().default(1000),
  /** A batch is written once it holds this many alerts... */
  PROCESSOR_BATCH_ALERTS: z.coerce.number().int().positive().default(500),
  /**
   * ...or this long after its first message arrived. Below a full batch, a longer wait gathers
   * more alerts per transaction (what a batch costs whatever its size is paid less often) for at
   * most this much latency: 20 ms measured lower CPU per alert and a lower p99 than 5 or 50.
   */
  PROCESSOR_BATCH_WAIT_MS: z.coerce.number().int().min(0).default(20),
  /** How often the outbox relay looks for events left unpublished (by a crash or a broker outage). */
  OUTBOX_SWEEP_MS: z.coerce.number().int().positive().default(5_000),
  /** No `alert.processed` message body above this many bytes: a bigger event is published in parts. */
  PROCESSOR_EVENT_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024, 'must be at least 65536 (64 KiB)')
    .default(DEFAULT_EVENT_MAX_BYTES),
  /** An event the broker refuses (nack, returned) is retried by the sweeper until refused this many times, then set aside in the notifiers' `.dead` queues. */
  PROCESSOR_OUTBOX_MAX_REFUSALS: z.coerce.number().int().min(1, 'must be at least 1 (1: set aside at the first refusal)').default(6),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
  /** How often open episodes whose lease has ended are looked for and resolved (`expired`). */
  LEASE_EXPIRY_INTERVAL_MS: z.coerce.number().int().min(50, 'must be at least 50').default(500),
  ...retentionEnv,
});
export type ProcessorConfig = z.infer<typeof ProcessorConfig>;
