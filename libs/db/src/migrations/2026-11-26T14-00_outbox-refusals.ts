import { sql, type Kysely } from 'kysely';

/**
 * How many times the broker has refused (nacked, returned) an outbox row's event. The relay keeps
 * a refused row for the sweeper and sets it aside in the notifiers' `.dead` queues only once this
 * reaches PROCESSOR_OUTBOX_MAX_REFUSALS: a quorum queue without a leader nacks during a failover,
 * and such an event goes on the next sweep. Stored with the row, so a restart does not reset it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_outbox add column refusals integer not null default 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_outbox drop column refusals`.execute(db);
}
