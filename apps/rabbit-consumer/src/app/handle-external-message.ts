import { randomUUID } from 'node:crypto';
import { EXCHANGES, HEADERS, ROUTING_KEYS, type AlertReceived, type RejectedAlert } from '@sentryhub/contracts';
import { PermanentError, type HandlerContext, type Messaging } from '@sentryhub/messaging';
import { normalizeIntakeAlerts } from '@sentryhub/alert-identity';
import { Counter, type Registry } from '@sentryhub/service-runtime';
import type { ExternalIntake } from './parse-external-message';

/** At most this many refused alerts are spelt out in a dead letter's x-error. */
const REASONS_IN_HEADER = 5;

/** The x-error of a message some of whose alerts were refused: how many, and why, alert by alert. */
export function refusedAlertsReason(rejected: readonly RejectedAlert[], total: number): string {
  const listed = rejected.slice(0, REASONS_IN_HEADER).map((alert) => `alert ${alert.index} (${alert.refusal}): ${alert.reason}`);
  const more = rejected.length > REASONS_IN_HEADER ? `; and ${rejected.length - REASONS_IN_HEADER} more` : '';
  return `${rejected.length} of ${total} alerts refused (the others were republished): ${listed.join('; ')}${more}`;
}

/** Counts refused alerts by the bound they broke (a closed set: never the alert's content). */
export function rejectedAlertsCounter(registry: Registry): Counter<'reason'> {
  return new Counter({
    name: 'sentryhub_rabbit_consumer_alerts_rejected_total',
    help: 'Alerts refused on their own at intake (an intake bound broken), by bound',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
}

/**
 * A valid external message -> one `alert.received.external` holding the alerts that passed the
 * intake bounds. It returns only after RabbitMQ confirmed that publish, and the subscriber acks
 * only then, so an alert is never acked before it is safely in the broker. A publish error is
 * thrown to the subscriber, which retries the message later. When some alerts were refused, a
 * copy of the message then goes to the dead letters with the reasons (`x-error`).
 */
export function externalMessageHandler(
  messaging: Pick<Messaging, 'publish'>,
  registry: Registry,
  options: { bodyLimitBytes: number; queue: string; rejectedAlerts: Counter<'reason'> },
) {
  const acceptedMessages = new Counter({
    name: 'sentryhub_rabbit_consumer_messages_accepted_total',
    help: 'External messages republished as alert.received.external (confirmed)',
    registers: [registry],
  });
  const acceptedAlerts = new Counter({
    name: 'sentryhub_rabbit_consumer_alerts_accepted_total',
    help: 'Alerts republished as alert.received.external (confirmed)',
    registers: [registry],
  });

  /** A copy of the message, as it came, beside the other dead letters of the queue; provenance headers written from the delivery. */
  async function deadLetterCopy(context: HandlerContext, rejected: readonly RejectedAlert[], total: number): Promise<void> {
    const { message } = context;
    const [first] = rejected;
    await messaging.publish(EXCHANGES.deadLetter, options.queue, message.content, {
      messageId: message.properties.messageId,
      correlationId: message.properties.correlationId,
      contentType: message.properties.contentType,
      contentEncoding: message.properties.contentEncoding,
      timestamp: message.properties.timestamp,
      headers: {
        [HEADERS.originalExchange]: message.fields.exchange,
        [HEADERS.originalRoutingKey]: message.fields.routingKey,
        [HEADERS.originalQueue]: options.queue,
        [HEADERS.error]: refusedAlertsReason(rejected, total),
        [HEADERS.errorPath]: first?.issues[0]?.path.join('.') ?? '',
      },
    });
  }

  return async (intake: ExternalIntake, context: HandlerContext): Promise<void> => {
    const size = context.message.content.length;
    if (size > options.bodyLimitBytes) {
      // Dead-lettered at once: the same limit as the HTTP gateway's 413, so that one huge
      // message cannot weigh on every service downstream.
      throw new PermanentError(`message body of ${size} bytes is over the limit of ${options.bodyLimitBytes} bytes (BODY_LIMIT_BYTES)`);
    }
    const { receivedAt, rejected } = intake;
    const { alerts, meta } = normalizeIntakeAlerts(intake.alerts, receivedAt);
    // Keeping the sender's message id lets a redelivered message be recognised downstream.
    const id = context.messageId || randomUUID();
    const message: AlertReceived = { id, receivedAt: receivedAt.toISOString(), source: 'external', meta, alerts };
    await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('external'), message, {
      messageId: id,
      correlationId: context.correlationId || id,
    });
    acceptedMessages.inc();
    acceptedAlerts.inc(alerts.length);
    if (rejected.length > 0) {
      // After the good alerts are safe: should this publish fail, the retry republishes them
      // too, which the processor takes as the duplicates they are.
      await deadLetterCopy(context, rejected, alerts.length + rejected.length);
      for (const alert of rejected) options.rejectedAlerts.inc({ reason: alert.refusal });
      context.logger.warn(
        { id, alerts: alerts.length, refused: rejected.map(({ index, refusal }) => ({ index, bound: refusal })) },
        'some alerts refused at intake; a copy of the message is dead-lettered with the reasons',
      );
    }
    context.logger.info({ id, alerts: alerts.length }, 'external message republished as alert.received.external');
  };
}
