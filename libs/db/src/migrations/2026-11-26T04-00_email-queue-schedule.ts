import { sql, type Kysely } from 'kysely';

/**
 * When an email may be tried next (back-off between attempts), and when a sender claimed it
 * (a claim older than the lease is taken over: a sender that died mid-send loses nothing).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('email_queue')
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('claimed_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('email_queue_due_idx').on('email_queue').columns(['status', 'next_attempt_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('email_queue_due_idx').execute();
  await db.schema.alterTable('email_queue').dropColumn('next_attempt_at').dropColumn('claimed_at').execute();
}
