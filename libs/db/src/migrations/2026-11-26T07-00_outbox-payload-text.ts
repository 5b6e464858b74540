import { sql, type Kysely } from 'kysely';

/**
 * The outbox payload is the event's message body, written once and published as it is: text,
 * not jsonb. PostgreSQL parsed every event into jsonb (about 1 KB per change, 50 MB for a
 * 50,000-alert storm) only for the relay to print it back to text; nothing queries inside it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_outbox alter column payload type text using payload::text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_outbox alter column payload type jsonb using payload::jsonb`.execute(db);
}
