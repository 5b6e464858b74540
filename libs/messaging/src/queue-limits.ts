import { deadLetterQueueName, EXCHANGES, QUEUES, retryQueueName } from '@sentryhub/contracts';
import type { BrokerConfig } from 'rascal';

/**
 * The bounds of one queue, declared as queue arguments (docs/architecture.md, "Queue limits",
 * says why each value). Changing one changes the declaration, which RabbitMQ refuses (406
 * PRECONDITION_FAILED) for a queue that exists with the old arguments: the same page describes
 * the upgrade path.
 */
export interface QueueLimits {
  /** `x-message-ttl`: what waited this long is dead-lettered (or dropped where there is no dead-letter exchange). */
  messageTtlMs?: number;
  /** `x-max-length`, in messages. */
  maxLength?: number;
  /** `x-max-length-bytes`, message bodies only. */
  maxLengthBytes?: number;
  /** `x-overflow`: `drop-head` dead-letters (or drops) the oldest; `reject-publish` nacks the publisher. */
  overflow?: 'drop-head' | 'reject-publish';
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const MIB = 1024 * 1024;

/**
 * Work queues with a consumer: no TTL (an alert or an audit event never expires unseen), and a
 * length far above any backlog a healthy consumer leaves, past which the oldest messages move to
 * `<queue>.dead` (drop-head through the queue's dead-letter exchange), where they can be
 * replayed. The byte bound keeps a backlog of large messages (up to 1 MiB each) from filling the
 * broker's disk.
 */
const CONSUMED: QueueLimits = { maxLength: 200_000, maxLengthBytes: 1024 * MIB, overflow: 'drop-head' };

const WORK_QUEUE_LIMITS: Readonly<Record<string, QueueLimits>> = {
  [QUEUES.alertProcessorAlertsReceived]: CONSUMED,
  [QUEUES.slackNotifierAlertsProcessed]: CONSUMED,
  // Declared by every service before the email-notifier runs, so every alert.processed lands
  // here with or without a consumer: an email a day late is noise, it goes to `.dead` instead
  // (replayable for two weeks), and the queue cannot grow for good while nobody reads it.
  [QUEUES.emailNotifierAlertsProcessed]: { ...CONSUMED, messageTtlMs: 24 * HOUR_MS },
  // The same for the webhook-notifier, which a deployment without webhook receivers never runs.
  [QUEUES.webhookNotifierAlertsProcessed]: { ...CONSUMED, messageTtlMs: 24 * HOUR_MS },
  [QUEUES.adminAuditEvents]: CONSUMED,
};

/** The limits of a work queue of docs/contracts.md §4.3 (none for a queue this file does not know). */
export const workQueueLimits = (queue: string): QueueLimits => WORK_QUEUE_LIMITS[queue] ?? {};

/** `<queue>.dead`: kept two weeks for inspection and replay, bounded in count and bytes; past that the oldest is dropped. */
export const DEAD_LETTER_QUEUE_LIMITS: QueueLimits = { messageTtlMs: 14 * DAY_MS, maxLength: 100_000, maxLengthBytes: 512 * MIB, overflow: 'drop-head' };

/**
 * `<queue>.retry.<n>` (their TTL is the retry delay itself): when one is full, the subscriber's
 * retry publish is nacked, so the message is requeued and, past the delivery limit,
 * dead-lettered by RabbitMQ: never lost.
 */
export const RETRY_QUEUE_LIMITS: QueueLimits = { maxLength: 50_000, overflow: 'reject-publish' };

/** The queue arguments of some limits. */
export function queueLimitArguments(limits: QueueLimits): Record<string, string | number> {
  return {
    ...(limits.messageTtlMs !== undefined ? { 'x-message-ttl': limits.messageTtlMs } : {}),
    ...(limits.maxLength !== undefined ? { 'x-max-length': limits.maxLength } : {}),
    ...(limits.maxLengthBytes !== undefined ? { 'x-max-length-bytes': limits.maxLengthBytes } : {}),
    ...(limits.overflow !== undefined ? { 'x-overflow': limits.overflow } : {}),
  };
}

/**
 * Adds the limits to the queue declarations of a broker configuration: a work queue gets its
 * own (a queue this file does not know, such as the external intake queue, none); a dead-letter
 * queue (`<queue>.dead`, bound to `dead-letter` by `<queue>`) and a retry queue
 * (`<queue>.retry.<n>`, dead-lettering back to `<queue>`) get the dead-letter and retry limits.
 */
export function withQueueLimits(config: BrokerConfig): BrokerConfig {
  for (const vhost of Object.values(config.vhosts ?? {})) {
    const queues = vhost.queues;
    if (!queues || Array.isArray(queues)) continue;
    const bindings = vhost.bindings && !Array.isArray(vhost.bindings) ? Object.values(vhost.bindings) : [];
    const deadLetterQueues = new Set(
      bindings
        .filter((binding) => binding.source === EXCHANGES.deadLetter && binding.destination === deadLetterQueueName(String(binding.bindingKey)))
        .map((binding) => binding.destination),
    );
    for (const [name, queue] of Object.entries(queues)) {
      const existing = (queue.options?.arguments ?? {}) as Record<string, unknown>;
      const returnsTo = existing['x-dead-letter-exchange'] === '' ? existing['x-dead-letter-routing-key'] : undefined;
      const isRetry =
        typeof returnsTo === 'string' &&
        name.startsWith(`${returnsTo}.retry.`) &&
        name === retryQueueName(returnsTo, Number(name.slice(`${returnsTo}.retry.`.length)));
      const limits = queueLimitArguments(deadLetterQueues.has(name) ? DEAD_LETTER_QUEUE_LIMITS : isRetry ? RETRY_QUEUE_LIMITS : workQueueLimits(name));
      if (Object.keys(limits).length === 0) continue;
      // The queue's own arguments (a retry queue's TTL is its delay) come last and win.
      queues[name] = { ...queue, options: { ...queue.options, arguments: { ...limits, ...existing } } };
    }
  }
  return config;
}
