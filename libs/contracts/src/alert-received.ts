import { z } from 'zod';
import { LabelSet, Rfc3339 } from './alertmanager';
import { ALERT_SOURCES } from './topology';

/** One alert after intake: the same shape whatever door it came in by. */
export const NormalizedAlert = z.object({
  /**
   * The fingerprint SentryHub computes from the labels (Alertmanager's): the key of the alert's
   * group. The processor computes it again from the labels and never trusts this field.
   */
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  /** The fingerprint the sender gave (a webhook's `fingerprint`), for reference only: it decides nothing. */
  senderFingerprint: z.string().optional(),
  status: z.enum(['firing', 'resolved']),
  labels: LabelSet,
  annotations: LabelSet,
  /** null when the sender gave none (a script posting a firing alert again and again). */
  startsAt: Rfc3339.nullable(),
  /** null means "not ended". */
  endsAt: Rfc3339.nullable(),
  /**
   * The lease of a firing alert (Alertmanager's semantics): when it runs out without a re-send,
   * the episode resolves as `expired`. Set at intake: on `POST /api/v2/alerts` a future endsAt,
   * else the receipt + RESOLVE_TIMEOUT; on `/api/v1/alerts` and the external queue only a future
   * endsAt; never for a webhook (Alertmanager sends the resolution itself). Absent or null: the
   * alert never expires. Always null on a resolved alert.
   */
  leaseEndsAt: Rfc3339.nullable().optional(),
  generatorURL: z.string().nullable(),
  /** Fields the sender added beyond the known ones, kept as they came. */
  extra: z.record(z.string(), z.unknown()).default({}),
  /** The intake request's correlation id when the gateway coalesced several requests into one message. */
  correlationId: z.string().min(1).optional(),
});
export type NormalizedAlert = z.infer<typeof NormalizedAlert>;

/** RESOLVE_TIMEOUT when unset: the lease of an alert posted to `/api/v2/alerts` without endsAt (Alertmanager's `resolve_timeout`). */
export const DEFAULT_RESOLVE_TIMEOUT = '5m';

/** `alert.received.<source>`: every alert of one intake request or message. */
export const AlertReceived = z.object({
  id: z.string().min(1),
  receivedAt: Rfc3339,
  source: z.enum(ALERT_SOURCES),
  meta: z.record(z.string(), z.unknown()).default({}),
  alerts: z.array(NormalizedAlert).min(1),
});
export type AlertReceived = z.infer<typeof AlertReceived>;
