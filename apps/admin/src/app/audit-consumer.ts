import { AuditEvent, QUEUES } from '@sentryhub/contracts';
import { isDatabaseUnavailable, type Database } from '@sentryhub/db';
import { subscribeBatch, type Delivery, type Messaging, type Subscription } from '@sentryhub/messaging';
import { Counter, type Logger, type Registry } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';

const countersByRegistry = new WeakMap<Registry, Counter<'outcome'>>();
function storedCounter(registry: Registry): Counter<'outcome'> {
  const known = countersByRegistry.get(registry);
  if (known) return known;
  const counter = new Counter({
    name: 'sentryhub_admin_audit_events_total',
    help: 'Audit events consumed from admin.audit-events: stored, or duplicate (already in audit_log, e.g. written by the admin itself)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const outcome of ['stored', 'duplicate']) counter.inc({ outcome }, 0);
  countersByRegistry.set(registry, counter);
  return counter;
}

/**
 * Stores a batch of audit events in audit_log, each once: `ON CONFLICT (event_id) DO NOTHING`
 * makes a redelivered event, or one the admin API already wrote in its own transaction (same
 * id), a no-op. A database outage is retried without using up the events' retries.
 */
export function auditEventsHandler(db: Kysely<Database>, registry: Registry) {
  const stored = storedCounter(registry);
  return async (batch: Delivery<AuditEvent>[]): Promise<void> => {
    const events = [...new Map(batch.map(({ data }) => [data.id, data])).values()];
    const inserted = await db
      .insertInto('audit_log')
      .values(
        events.map((event) => ({
          event_id: event.id,
          actor: event.actor,
          entity: event.entity,
          entity_id: event.entityId,
          action: event.action,
          changes: JSON.stringify(event.changes),
          at: event.at,
        })),
      )
      .onConflict((conflict) => conflict.column('event_id').doNothing())
      .returning('id')
      .execute();
    stored.inc({ outcome: 'stored' }, inserted.length);
    stored.inc({ outcome: 'duplicate' }, batch.length - inserted.length);
  };
}

/** The admin's consumer of `admin.audit-events` (bound to `audit` with `audit.#`). */
export function subscribeAuditEvents(
  messaging: Messaging,
  options: { db: Kysely<Database>; logger: Logger; registry: Registry; retryDelaysMs?: readonly number[] },
): Promise<Subscription> {
  return subscribeBatch(messaging, {
    queue: QUEUES.adminAuditEvents,
    parse: (json) => AuditEvent.safeParse(json),
    logger: options.logger,
    handler: auditEventsHandler(options.db, options.registry),
    // Audit events are small and rare: a short wait gathers bursts into one insert.
    maxWeight: 200,
    maxWaitMs: 50,
    // A database outage holds the batch without using up the events' retries.
    dependencyUnavailable: isDatabaseUnavailable,
    ...(options.retryDelaysMs ? { retryDelaysMs: options.retryDelaysMs } : {}),
  });
}
