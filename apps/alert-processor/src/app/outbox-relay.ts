import { EXCHANGES } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Messaging } from '@sentryhub/messaging';
import { sql, type Kysely } from 'kysely';

interface OutboxRow {
  id: number;
  message_id: string;
  routing_key: string;
  correlation_id: string | null;
  payload: unknown;
}

/**
 * Publishes outbox rows (confirmed) and deletes them, inside one transaction that holds their
 * row locks: a processor publishing its own batch and a relay sweeping for leftovers never
 * publish the same row twice (SKIP LOCKED). If a publish fails the rows stay for the next sweep.
 * The one window left is a crash after the confirm and before the delete commits: the event is
 * then published again with the same message id, and consumers are idempotent on it.
 */
export async function relayOutbox(db: Kysely<Database>, messaging: Pick<Messaging, 'publish'>, select: { messageIds: string[] } | { olderThanMs: number; limit: number }): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const filter =
      'messageIds' in select
        ? sql`message_id = any(${select.messageIds}::text[])`
        : sql`created_at < now() - make_interval(secs => ${select.olderThanMs / 1000}) order by id limit ${select.limit}`;
    const rows = (await sql<OutboxRow>`select id, message_id, routing_key, correlation_id, payload from alert_outbox where ${filter} for update skip locked`.execute(trx)).rows;
    if (rows.length === 0) return 0;
    await Promise.all(
      rows.map((row) =>
        messaging.publish(EXCHANGES.alerts, row.routing_key, row.payload, { messageId: row.message_id, correlationId: row.correlation_id ?? row.message_id }),
      ),
    );
    await trx.deleteFrom('alert_outbox').where('id', 'in', rows.map((row) => row.id)).execute();
    return rows.length;
  });
}
