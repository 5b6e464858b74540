/** The recovery policy every subscriber shares: decoding, provenance headers, retries and dead letters. */
import { EXCHANGES, HEADERS, RETRY_DELAYS_MS, retryQueueName } from '@sentryhub/contracts';
import type { Message } from 'amqplib';
import type { Logger } from 'pino';
import { lazyChild } from '@sentryhub/service-runtime';
import type { AckOrNack } from 'rascal';
import type { z } from 'zod';
import { DependencyUnavailableError, PermanentError } from './errors';
import type { Messaging } from './broker';

export interface HandlerContext {
  message: Message;
  correlationId: string;
  messageId: string;
  logger: Logger;
  /** This is the message's last try: if it fails now it is dead-lettered, not retried. */
  lastAttempt: boolean;
}

export interface Delivery<T> {
  data: T;
  context: HandlerContext;
}

type Parse<T> = (json: unknown) => { success: true; data: T } | { success: false; error: z.ZodError };

export interface CommonOptions<T> {
  queue: string;
  /** Parses the decoded JSON; a failure dead-letters the message at once with the zod issue. */
  parse: Parse<T>;
  logger: Logger;
  /** Waited before a nack-requeue when even the retry or dead-letter publish failed. */
  requeueDelayMs?: number;
  /** The delays of the retry queues; by default those the connection declared (messaging.retryDelaysMs). */
  retryDelaysMs?: readonly number[];
  /**
   * Says which handler errors mean "a dependency is down" (for example isDatabaseUnavailable),
   * besides DependencyUnavailableError itself: those never use up the message's retries.
   */
  dependencyUnavailable?: (error: Error) => boolean;
}

/**
 * A delivered message, not yet decoded: `open` decodes and parses it (call it once), or
 * dead-letters an invalid one and returns null. A batch subscriber opens what it holds beyond
 * its next batches only when their turn comes, so a long prefetch waits as bytes, not as objects.
 */
export interface Arrival<T> {
  ackOrNack: AckOrNack;
  /** The size of the message's body as delivered, before it is decoded. */
  bytes: number;
  open(): Delivery<T> | null;
}

type Decoded = { ok: true; json: unknown } | { ok: false; reason: string; path: string };

const UTF8_ENCODINGS = new Set(['', 'utf-8', 'utf8', 'identity']);

function decode(message: Message): Decoded {
  const encoding = String(message.properties.contentEncoding ?? '').toLowerCase();
  if (!UTF8_ENCODINGS.has(encoding)) {
    return { ok: false, reason: `unsupported content encoding "${encoding}": send UTF-8 JSON`, path: '' };
  }
  try {
    return { ok: true, json: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(message.content)) };
  } catch (error) {
    return { ok: false, reason: `invalid JSON: ${error instanceof Error ? error.message : String(error)}`, path: '' };
  }
}

/** Whether `error`, or an error it was caused by, says that a dependency is down. */
export function isDependencyDown(error: unknown, predicate?: (error: Error) => boolean): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 10; cause = cause.cause, depth++) {
    if (cause instanceof DependencyUnavailableError || predicate?.(cause)) return true;
  }
  return false;
}

/** The retry level used while a dependency is down: a few seconds, never counted as an attempt. */
const OUTAGE_RETRY_LEVEL = 2;

/**
 * Headers that only SentryHub writes: where a message came from, why it failed, how often it
 * was retried. Whoever publishes a message can put any header on it, so these are read only
 * from a message that a SentryHub connection published (see `publishedBySentryHub`) and are
 * otherwise dropped and written again from the delivery itself.
 */
export const PROVENANCE_HEADERS: readonly string[] = [
  HEADERS.originalExchange,
  HEADERS.originalRoutingKey,
  HEADERS.originalQueue,
  HEADERS.error,
  HEADERS.errorPath,
  HEADERS.retryCount,
];

/**
 * Headers RabbitMQ writes when it dead-letters (`x-death`, `x-first-death-*`, `x-last-death-*`).
 * RabbitMQ 3.x keeps a publisher's own `x-death`, so on a message from outside they are as
 * forgeable as the rest and are dropped too. (The admin's replay marks, `x-replayed-from` and
 * `x-replay-count`, are kept: the admin publishes replays on a connection of its own.)
 */
const HISTORY_HEADERS: readonly string[] = [
  'x-death',
  'x-first-death-reason',
  'x-first-death-queue',
  'x-first-death-exchange',
  'x-last-death-reason',
  'x-last-death-queue',
  'x-last-death-exchange',
];

/**
 * Did a SentryHub connection publish this message (our own retry republish coming back from
 * `<queue>.retry.<n>`, or an event a service published)? Every SentryHub publish carries the
 * `user-id` property of its connection's user, and RabbitMQ refuses (406) a publish whose
 * `user-id` is not the publishing connection's user: an outside publisher with its own
 * RabbitMQ user cannot claim ours.
 */
export function publishedBySentryHub(message: Message, brokerUser: string | undefined): boolean {
  return brokerUser !== undefined && message.properties.userId === brokerUser;
}

/** Retries the message has used: 0 unless SentryHub wrote the counter; always within [0, max]. */
export function retriesDone(message: Message, brokerUser: string | undefined, max: number): number {
  if (!publishedBySentryHub(message, brokerUser)) return 0;
  const recorded = Number(message.properties.headers?.[HEADERS.retryCount] ?? 0);
  return Number.isInteger(recorded) ? Math.min(Math.max(recorded, 0), max) : 0;
}

const asText = (value: unknown): string | null => (typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : null);

/**
 * The headers a dead-lettered or retried copy carries. Its provenance comes from the delivery:
 * the exchange and routing key it was delivered with, and the queue it was consumed from.
 * Only on a message SentryHub itself republished (a retry coming back through the default
 * exchange) are the recorded original exchange and routing key kept, so that they survive the
 * retries. Any other header of those names, and any forgeable history, is dropped.
 */
export function provenanceOf(message: Message, queue: string, brokerUser: string | undefined): Record<string, unknown> {
  const ours = publishedBySentryHub(message, brokerUser);
  const incoming = message.properties.headers ?? {};
  const dropped = new Set<string>(ours ? PROVENANCE_HEADERS : [...PROVENANCE_HEADERS, ...HISTORY_HEADERS]);
  const kept = Object.fromEntries(Object.entries(incoming).filter(([name]) => !dropped.has(name.toLowerCase())));
  const recordedExchange = ours ? asText(incoming[HEADERS.originalExchange]) : null;
  const recordedRoutingKey = ours ? asText(incoming[HEADERS.originalRoutingKey]) : null;
  const recorded = recordedExchange !== null && recordedRoutingKey !== null;
  return {
    ...kept,
    [HEADERS.originalExchange]: recorded ? recordedExchange : message.fields.exchange,
    [HEADERS.originalRoutingKey]: recorded ? recordedRoutingKey : message.fields.routingKey,
    [HEADERS.originalQueue]: queue,
  };
}

/**
 * The one recovery policy of every subscriber:
 * - bad JSON or a schema failure: dead-letter at once with `x-error` and `x-error-path`;
 * - a PermanentError from the handler: dead-letter at once with its reason;
 * - a DependencyUnavailableError: retried every few seconds, without using up retries;
 * - any other error: republish through `<queue>.retry.<n>` with growing delays, then dead-letter;
 * - when even that publish fails (broker trouble): wait, then nack with requeue; the quorum
 *   queue's delivery limit dead-letters a message that keeps coming back.
 * A handler never crashes the process.
 */
export async function consume<T>(messaging: Messaging, options: CommonOptions<T>, accept: (arrival: Arrival<T>) => void) {
  const { queue, logger } = options;
  const requeueDelayMs = options.requeueDelayMs ?? 1_000;
  const retryDelaysMs = options.retryDelaysMs ?? messaging.retryDelaysMs ?? RETRY_DELAYS_MS;
  const session = await messaging.broker.subscribe(queue);

  const forward = async (message: Message, routingKey: string, headers: Record<string, unknown>) => {
    await messaging.publish(EXCHANGES.deadLetter, routingKey, message.content, {
      messageId: message.properties.messageId,
      correlationId: message.properties.correlationId,
      contentType: message.properties.contentType,
      contentEncoding: message.properties.contentEncoding,
      timestamp: message.properties.timestamp,
      headers: { ...provenanceOf(message, queue, messaging.brokerUser), ...headers },
    });
  };

  type Outcome = 'retried' | 'dead_lettered';

  const deadLetter = async (message: Message, reason: string, path: string): Promise<Outcome> => {
    await forward(message, queue, {
      [HEADERS.error]: reason,
      [HEADERS.errorPath]: path,
      [HEADERS.retryCount]: retriesDone(message, messaging.brokerUser, retryDelaysMs.length),
    });
    return 'dead_lettered';
  };

  const retryLater = async (message: Message, error: Error, log: Logger): Promise<Outcome> => {
    const done = retriesDone(message, messaging.brokerUser, retryDelaysMs.length);
    if (isDependencyDown(error, options.dependencyUnavailable)) {
      const level = Math.min(OUTAGE_RETRY_LEVEL, retryDelaysMs.length);
      log.warn({ err: error, delayMs: retryDelaysMs[level - 1] }, 'dependency unavailable; retrying later without using a retry');
      await forward(message, retryQueueName(queue, level), { [HEADERS.retryCount]: done, [HEADERS.error]: error.message });
      return 'retried';
    }
    const attempt = done + 1;
    if (attempt > retryDelaysMs.length) {
      log.error({ err: error, attempts: done }, 'retries exhausted; dead-lettering');
      return deadLetter(message, `retries exhausted after ${done} attempts: ${error.message}`, '');
    }
    log.warn({ err: error, attempt, delayMs: retryDelaysMs[attempt - 1] }, 'handler failed; retrying later');
    await forward(message, retryQueueName(queue, attempt), { [HEADERS.retryCount]: attempt, [HEADERS.error]: error.message });
    return 'retried';
  };

  const count = (outcome: 'acked' | 'retried' | 'dead_lettered' | 'requeued') => messaging.metrics?.consumed.inc({ queue, outcome });

  const settle = async (ackOrNack: AckOrNack, log: Logger, outcome: () => Promise<Outcome>) => {
    try {
      const counted = await outcome();
      ackOrNack();
      count(counted);
    } catch (publishError) {
      log.error({ err: publishError }, 'could not republish or dead-letter; requeueing after a delay');
      count('requeued');
      setTimeout(() => ackOrNack(publishError as Error, { strategy: 'nack', requeue: true }), requeueDelayMs).unref();
    }
  };

  /** What happens to a valid message whose handling failed. */
  const recover = (delivery: Delivery<unknown>, ackOrNack: AckOrNack, error: unknown) => {
    const err = error instanceof Error ? error : new Error(String(error));
    const { message, logger: log } = delivery.context;
    if (err instanceof PermanentError) {
      log.error({ err }, 'permanent failure; dead-lettering');
      return settle(ackOrNack, log, () => deadLetter(message, err.message, err.path));
    }
    return settle(ackOrNack, log, () => retryLater(message, err, log));
  };

  /** Decodes and parses a delivered message; an invalid one is dead-lettered, and null returned. */
  const open = (message: Message, ackOrNack: AckOrNack): Delivery<T> | null => {
    const messageId = String(message.properties.messageId ?? '');
    const correlationId = String(message.properties.correlationId ?? messageId);
    const logOf = () => logger.child({ queue, messageId, correlationId });
    const decoded = decode(message);
    if (!decoded.ok) {
      const log = logOf();
      log.warn({ reason: decoded.reason }, 'dead-lettering undecodable message');
      void settle(ackOrNack, log, () => deadLetter(message, decoded.reason, decoded.path));
      return null;
    }
    const parsed = options.parse(decoded.json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.map(String).join('.') ?? '';
      const reason = `invalid message: ${issue?.message ?? 'schema mismatch'}${path ? ` at ${path}` : ''}`;
      const log = logOf();
      log.warn({ reason, path }, 'dead-lettering invalid message');
      void settle(ackOrNack, log, () => deadLetter(message, reason, path));
      return null;
    }
    const lastAttempt = retriesDone(message, messaging.brokerUser, retryDelaysMs.length) >= retryDelaysMs.length;
    // The message's child logger is made only when something logs at an enabled level (a pino
    // child costs more than the lines most messages write); children of it stay lazy too.
    const context: HandlerContext = { message, correlationId, messageId, lastAttempt, logger: lazyChild(logger, { queue, messageId, correlationId }) };
    return { data: parsed.data, context };
  };

  session.on('message', (message: Message, _content: unknown, ackOrNack: AckOrNack) => {
    accept({ ackOrNack, bytes: message.content.length, open: () => open(message, ackOrNack) });
  });
  // Rascal nacks (and so loses, without a dead-letter exchange) what these events carry when
  // nobody listens: we dead-letter with the reason instead.
  session.on('invalid_content', (error: Error, message: Message, ackOrNack: AckOrNack) => {
    void settle(ackOrNack, logger, () => deadLetter(message, `invalid content: ${error.message}`, ''));
  });
  session.on('redeliveries_exceeded', (error: Error, message: Message, ackOrNack: AckOrNack) => {
    void settle(ackOrNack, logger, () => deadLetter(message, `redeliveries exceeded: ${error.message}`, ''));
  });
  session.on('error', (error: Error) => logger.error({ err: error, queue }, 'subscription error'));

  return { session, recover, count };
}
