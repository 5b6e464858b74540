import { sql, type Kysely } from 'kysely';

/**
 * The indexes a grouped rule's repeat reads through: the firings it told in the group (a `sent`
 * Slack or webhook notification, a `completed` email), by rule and group key. Without them every
 * repeat of every group read the whole table of notifications or emails.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index notifications_group_told on notifications (notifier, coalesce(rule_id, webhook_rule_id), group_key, instance_id) where kind = 'firing' and status = 'sent' and group_key is not null`.execute(
    db,
  );
  await sql`create index email_queue_group_told on email_queue (rule_id, group_key, instance_id) where kind = 'firing' and status = 'completed' and group_key is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists email_queue_group_told`.execute(db);
  await sql`drop index if exists notifications_group_told`.execute(db);
}
