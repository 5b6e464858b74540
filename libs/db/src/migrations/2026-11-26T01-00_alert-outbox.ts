import { sql, type Kysely } from 'kysely';

/**
 * The processor's transactional outbox: `alert.processed` events are written in the same
 * transaction as the state they describe, then published and deleted. A crash between commit
 * and publish leaves them here for the relay instead of losing them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('alert_outbox')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().unique())
    .addColumn('routing_key', 'text', (c) => c.notNull())
    .addColumn('correlation_id', 'text')
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('alert_outbox').execute();
}
