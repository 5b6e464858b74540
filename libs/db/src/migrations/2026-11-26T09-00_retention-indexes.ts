import { sql, type Kysely } from 'kysely';

/**
 * Retention deletes alert groups in batches; each deleted group cascades to its email_queue
 * rows, comments and acknowledgements, which PostgreSQL finds by `group_id`: without these
 * indexes every deleted group would scan those tables whole. (The other foreign keys the
 * retention job follows, notifications and alert_instances by instance and group, have theirs.)
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists email_queue_group_idx on email_queue (group_id) where group_id is not null`.execute(db);
  await sql`create index if not exists alert_comments_group_idx on alert_comments (group_id)`.execute(db);
  await sql`create index if not exists alert_acknowledgements_group_idx on alert_acknowledgements (group_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists alert_acknowledgements_group_idx`.execute(db);
  await sql`drop index if exists alert_comments_group_idx`.execute(db);
  await sql`drop index if exists email_queue_group_idx`.execute(db);
}
