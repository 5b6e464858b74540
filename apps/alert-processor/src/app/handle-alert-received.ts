import { ALERT_STATUSES, EXCHANGES, ROUTING_KEYS, type AlertProcessed, type AlertReceived } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { HandlerContext, Messaging } from '@sentryhub/messaging';
import { Counter, type Registry } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { applyAlertReceived } from './alert-state';

/**
 * `alert.received.*` -> the state of SPEC section 5 in one transaction -> after commit, one
 * `alert.processed.<status>` per status that changed.
 */
export function alertReceivedHandler(db: Kysely<Database>, messaging: Pick<Messaging, 'publish'>, registry: Registry) {
  const alertsProcessed = new Counter({ name: 'sentryhub_processor_alerts_total', help: 'Alerts processed', registers: [registry] });
  const changesCounter = new Counter({
    name: 'sentryhub_processor_changes_total',
    help: 'State changes published as alert.processed, by kind',
    labelNames: ['change'] as const,
    registers: [registry],
  });

  return async (message: AlertReceived, context: HandlerContext): Promise<void> => {
    const changes = await applyAlertReceived(db, message);
    alertsProcessed.inc(message.alerts.length);
    for (const status of ALERT_STATUSES) {
      const ofStatus = changes.filter((change) => change.instance.status === status);
      if (ofStatus.length === 0) continue;
      const event: AlertProcessed = { id: `${message.id}:${status}`, processedAt: new Date().toISOString(), status, changes: ofStatus };
      await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed(status), event, { messageId: event.id, correlationId: context.correlationId });
      for (const change of ofStatus) changesCounter.inc({ change: change.change });
    }
    context.logger.info({ alerts: message.alerts.length, changes: changes.length }, 'alerts processed');
  };
}
