import { randomUUID } from 'node:crypto';
import { EXCHANGES, ROUTING_KEYS, type AlertReceived } from '@sentryhub/contracts';
import { PermanentError, type HandlerContext, type Messaging } from '@sentryhub/messaging';
import { normalizeIntakeBody, type IntakeBody } from '@sentryhub/rules';
import { Counter, type Registry } from '@sentryhub/service-runtime';

/**
 * A valid external message -> one `alert.received.external` holding all its alerts. It returns
 * only after RabbitMQ confirmed that publish, and the subscriber acks only then, so an alert
 * is never acked before it is safely in the broker. A publish error is thrown to the
 * subscriber, which retries the message later (SPEC section 3).
 */
export function externalMessageHandler(
  messaging: Pick<Messaging, 'publish'>,
  registry: Registry,
  options: { bodyLimitBytes: number; now?: () => Date },
) {
  const now = options.now ?? (() => new Date());
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

  return async (body: IntakeBody, context: HandlerContext): Promise<void> => {
    const size = context.message.content.length;
    if (size > options.bodyLimitBytes) {
      // Dead-lettered at once: the same limit as the HTTP gateway's 413, so that one huge
      // message cannot weigh on every service downstream.
      throw new PermanentError(`message body of ${size} bytes is over the limit of ${options.bodyLimitBytes} bytes (BODY_LIMIT_BYTES)`);
    }
    const receivedAt = now();
    const { alerts, meta } = normalizeIntakeBody(body, receivedAt);
    // Keeping the sender's message id lets a redelivered message be recognised downstream.
    const id = context.messageId || randomUUID();
    const message: AlertReceived = { id, receivedAt: receivedAt.toISOString(), source: 'external', meta, alerts };
    await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('external'), message, {
      messageId: id,
      correlationId: context.correlationId || id,
    });
    acceptedMessages.inc();
    acceptedAlerts.inc(alerts.length);
    context.logger.info({ id, alerts: alerts.length }, 'external message republished as alert.received.external');
  };
}
