import { sql, type Kysely } from 'kysely';

/**
 * Every silence gets a UUID: the id the Alertmanager API (`/api/v2/silences`) gives it, as
 * Alertmanager does (amtool refuses any other format). The serial `id` stays the key of
 * `/api/v1/silences` and of the audit rows; both name the same row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table silences add column uuid uuid not null default gen_random_uuid()`.execute(db);
  await sql`create unique index silences_uuid_idx on silences (uuid)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table silences drop column uuid`.execute(db);
}
