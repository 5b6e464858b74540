import { EXCHANGES } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Messaging } from '@sentryhub/messaging';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { OutboxEvent } from './batch-store';

interface OutboxRow {
  message_id: string;
  routing_key: string;
  correlation_id: string | null;
  /** The body as stored (JSON text); read back only where the caller does not hold it. */
  payload?: string;
}

/** The events of a batch just committed, their serialised bodies still in memory. */
export type HeldEvent = Omit<OutboxEvent, 'payload'>;

export type OutboxSelection = { events: HeldEvent[] } | { messageIds: string[] } | { olderThanMs: number; limit: number };

/**
 * Publishes outbox rows (confirmed) and deletes them in one transaction: the DELETE takes the
 * rows' locks (SKIP LOCKED, so a processor publishing its own batch and a relay sweeping for
 * leftovers never publish the same row twice), the publishes happen while it is open, and it
 * commits only if every publish was confirmed; otherwise it rolls back and the rows stay for
 * the next sweep. The one window left is a crash after the confirm and before the commit: the
 * event is then published again with the same message id, and consumers are idempotent on it.
 * Events whose bodies the caller holds (`events`) are published from memory: their payloads
 * are not read back.
 */
export async function relayOutbox(db: Kysely<Database>, messaging: Pick<Messaging, 'publish'>, select: OutboxSelection): Promise<number> {
  const held = 'events' in select ? new Map(select.events.map((event) => [event.messageId, event])) : null;
  const returning = held ? sql`message_id, routing_key, correlation_id` : sql`message_id, routing_key, correlation_id, payload`;
  return db.transaction().execute(async (trx) => {
    const rows = (
      await sql<OutboxRow>`
        delete from alert_outbox where id in (select id from alert_outbox where ${rowsOf(select)} for update skip locked)
        returning ${returning}`.execute(trx)
    ).rows;
    await Promise.all(
      rows.map((row) => {
        const body = held ? held.get(row.message_id)?.body : row.payload;
        if (body === undefined) return Promise.reject(new Error(`outbox row ${row.message_id} has no body to publish`));
        return messaging.publish(EXCHANGES.alerts, row.routing_key, Buffer.from(body), {
          messageId: row.message_id,
          correlationId: row.correlation_id ?? row.message_id,
        });
      }),
    );
    return rows.length;
  });
}

function rowsOf(select: OutboxSelection): RawBuilder<unknown> {
  if ('events' in select) return sql`message_id = any(${select.events.map((event) => event.messageId)}::text[])`;
  if ('messageIds' in select) return sql`message_id = any(${select.messageIds}::text[])`;
  return sql`created_at < now() - make_interval(secs => ${select.olderThanMs / 1000}) order by id limit ${select.limit}`;
}
