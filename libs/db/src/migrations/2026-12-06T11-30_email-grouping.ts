import { sql, type Kysely } from 'kysely';

/**
 * Grouping for email rules (`groupBy`, as Slack and webhook rules):
 * - `email_queue.group_key`: the group a grouped rule's alert email waits in, with status
 *   `grouped` (the sender never picks it); the group's `group_flush` timer turns the group's
 *   waiting rows into one email row and marks them `completed` with
 * - `email_queue.group_email_id`: the email that told them (its own row says whether it went out);
 * - the index the flush reads a group's waiting rows through.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('email_queue')
    .addColumn('group_key', 'text')
    .addColumn('group_email_id', 'bigint', (column) => column.references('email_queue.id').onDelete('set null'))
    .execute();
  await sql`alter table email_queue drop constraint email_queue_status_check`.execute(db);
  await sql`alter table email_queue add constraint email_queue_status_check check (status in ('pending', 'processing', 'completed', 'failed', 'inhibited', 'grouped'))`.execute(
    db,
  );
  await sql`create index email_queue_group_waiting on email_queue (rule_id, group_key, id) where status = 'grouped'`.execute(db);
  await sql`create index email_queue_group_email on email_queue (group_email_id) where group_email_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists email_queue_group_email`.execute(db);
  await sql`drop index if exists email_queue_group_waiting`.execute(db);
  await sql`delete from email_queue where status = 'grouped'`.execute(db);
  await sql`alter table email_queue drop constraint email_queue_status_check`.execute(db);
  await sql`alter table email_queue add constraint email_queue_status_check check (status in ('pending', 'processing', 'completed', 'failed', 'inhibited'))`.execute(
    db,
  );
  await db.schema.alterTable('email_queue').dropColumn('group_email_id').dropColumn('group_key').execute();
}
