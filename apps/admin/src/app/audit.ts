import { randomUUID } from 'node:crypto';
import { EXCHANGES, ROUTING_KEYS, type AuditEvent } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Messaging } from '@sentryhub/messaging';
import type { Logger } from '@sentryhub/service-runtime';
import type { Kysely, Transaction } from 'kysely';

export interface AuditInput {
  actor: string;
  entity: string;
  entityId: string | number | null;
  action: string;
  changes?: Record<string, unknown>;
}

/**
 * Every change is audited twice over: an `audit_log` row in the change's own transaction (so a
 * change is never without its record), and an `audit.<entity>.<action>` event after commit for
 * whoever listens. The row and the event share one id, so the audit consumer stores it once.
 */
export function auditTrail(messaging: () => Pick<Messaging, 'publish'> | null, logger: Logger) {
  return {
    async record(trx: Transaction<Database> | Kysely<Database>, input: AuditInput): Promise<AuditEvent> {
      const event: AuditEvent = {
        id: randomUUID(),
        actor: input.actor,
        entity: input.entity,
        entityId: input.entityId === null ? null : String(input.entityId),
        action: input.action,
        changes: input.changes ?? {},
        at: new Date().toISOString(),
      };
      await trx
        .insertInto('audit_log')
        .values({
          event_id: event.id,
          actor: event.actor,
          entity: event.entity,
          entity_id: event.entityId,
          action: event.action,
          changes: JSON.stringify(event.changes),
          at: event.at,
        })
        .execute();
      return event;
    },
    /** After commit: a broker outage does not undo the change, the row already holds it. */
    async publish(event: AuditEvent, correlationId: string): Promise<void> {
      const broker = messaging();
      if (!broker) return;
      try {
        await broker.publish(EXCHANGES.audit, ROUTING_KEYS.audit(event.entity, event.action), event, { messageId: event.id, correlationId });
      } catch (error) {
        logger.warn({ err: error, eventId: event.id }, 'audit event not published; the audit_log row holds it');
      }
    },
  };
}
export type AuditTrail = ReturnType<typeof auditTrail>;
