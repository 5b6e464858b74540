import { EXCHANGES, HEADERS, RETRY_DELAYS_MS, retryQueueName } from '@sentryhub/contracts';
import type { Message } from 'amqplib';
import type { Logger } from 'pino';
import type { AckOrNack, SubscriberSessionAsPromised } from 'rascal';
import type { z } from 'zod';
import { PermanentError } from './errors';
import type { Messaging } from './broker';

export interface HandlerContext {
  message: Message;
  correlationId: string;
  messageId: string;
  logger: Logger;
}

export interface SubscribeOptions<T> {
  queue: string;
  /** Parses the decoded JSON; a failure dead-letters the message at once with the zod issue. */
  parse: (json: unknown) => { success: true; data: T } | { success: false; error: z.ZodError };
  handler: (data: T, context: HandlerContext) => Promise<void>;
  logger: Logger;
  /** Waited before a nack-requeue when even the retry or dead-letter publish failed. */
  requeueDelayMs?: number;
  /** Must match the retry queues declared by buildBrokerConfig (only tests change them). */
  retryDelaysMs?: readonly number[];
}

export interface Subscription {
  session: SubscriberSessionAsPromised;
  cancel(): Promise<void>;
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

/**
 * The one recovery policy of every subscriber (SPEC section 4):
 * - bad JSON or a schema failure: dead-letter at once with `x-error` and `x-error-path`;
 * - a PermanentError from the handler: dead-letter at once with its reason;
 * - any other error: republish through `<queue>.retry.<n>` with growing delays, then dead-letter;
 * - when even that publish fails (broker trouble): wait, then nack with requeue; the quorum
 *   queue's delivery limit dead-letters a message that keeps coming back.
 * A handler never crashes the process.
 */
export async function subscribe<T>(messaging: Messaging, options: SubscribeOptions<T>): Promise<Subscription> {
  const { queue, logger } = options;
  const requeueDelayMs = options.requeueDelayMs ?? 1_000;
  const retryDelaysMs = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  const session = await messaging.broker.subscribe(queue);

  const forward = async (message: Message, routingKey: string, headers: Record<string, unknown>) => {
    await messaging.publish(EXCHANGES.deadLetter, routingKey, message.content, {
      messageId: message.properties.messageId,
      correlationId: message.properties.correlationId,
      contentType: message.properties.contentType,
      contentEncoding: message.properties.contentEncoding,
      timestamp: message.properties.timestamp,
      headers: {
        ...(message.properties.headers ?? {}),
        [HEADERS.originalExchange]: message.properties.headers?.[HEADERS.originalExchange] ?? message.fields.exchange,
        [HEADERS.originalRoutingKey]: message.properties.headers?.[HEADERS.originalRoutingKey] ?? message.fields.routingKey,
        [HEADERS.originalQueue]: queue,
        ...headers,
      },
    });
  };

  const deadLetter = (message: Message, reason: string, path: string) =>
    forward(message, queue, { [HEADERS.error]: reason, [HEADERS.errorPath]: path });

  const retryLater = async (message: Message, error: Error, log: Logger) => {
    const attempt = Number(message.properties.headers?.[HEADERS.retryCount] ?? 0) + 1;
    if (attempt > retryDelaysMs.length) {
      log.error({ err: error, attempts: attempt - 1 }, 'retries exhausted; dead-lettering');
      return deadLetter(message, `retries exhausted after ${attempt - 1} attempts: ${error.message}`, '');
    }
    log.warn({ err: error, attempt, delayMs: retryDelaysMs[attempt - 1] }, 'handler failed; retrying later');
    return forward(message, retryQueueName(queue, attempt), { [HEADERS.retryCount]: attempt, [HEADERS.error]: error.message });
  };

  const settle = async (message: Message, ackOrNack: AckOrNack, log: Logger, outcome: () => Promise<void>) => {
    try {
      await outcome();
      ackOrNack();
    } catch (publishError) {
      log.error({ err: publishError }, 'could not republish or dead-letter; requeueing after a delay');
      setTimeout(() => ackOrNack(publishError as Error, { strategy: 'nack', requeue: true }), requeueDelayMs).unref();
    }
  };

  const onMessage = async (message: Message, ackOrNack: AckOrNack) => {
    const messageId = String(message.properties.messageId ?? '');
    const correlationId = String(message.properties.correlationId ?? messageId);
    const log = logger.child({ queue, messageId, correlationId });
    const decoded = decode(message);
    if (!decoded.ok) {
      log.warn({ reason: decoded.reason }, 'dead-lettering undecodable message');
      return settle(message, ackOrNack, log, () => deadLetter(message, decoded.reason, decoded.path));
    }
    const parsed = options.parse(decoded.json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.map(String).join('.') ?? '';
      const reason = `invalid message: ${issue?.message ?? 'schema mismatch'}${path ? ` at ${path}` : ''}`;
      log.warn({ reason, path }, 'dead-lettering invalid message');
      return settle(message, ackOrNack, log, () => deadLetter(message, reason, path));
    }
    try {
      await options.handler(parsed.data, { message, correlationId, messageId, logger: log });
      ackOrNack();
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      if (err instanceof PermanentError) {
        log.error({ err }, 'permanent failure; dead-lettering');
        return settle(message, ackOrNack, log, () => deadLetter(message, err.message, err.path));
      }
      return settle(message, ackOrNack, log, () => retryLater(message, err, log));
    }
  };

  session.on('message', (message: Message, _content: unknown, ackOrNack: AckOrNack) => {
    onMessage(message, ackOrNack).catch((error: unknown) => logger.error({ err: error, queue }, 'unexpected subscriber failure'));
  });
  // Rascal nacks (and so loses, without a dead-letter exchange) what these events carry when
  // nobody listens: we dead-letter with the reason instead.
  session.on('invalid_content', (error: Error, message: Message, ackOrNack: AckOrNack) => {
    void settle(message, ackOrNack, logger, () => deadLetter(message, `invalid content: ${error.message}`, ''));
  });
  session.on('redeliveries_exceeded', (error: Error, message: Message, ackOrNack: AckOrNack) => {
    void settle(message, ackOrNack, logger, () => deadLetter(message, `redeliveries exceeded: ${error.message}`, ''));
  });
  session.on('error', (error: Error) => logger.error({ err: error, queue }, 'subscription error'));

  return {
    session,
    cancel: async () => {
      await session.cancel();
    },
  };
}
