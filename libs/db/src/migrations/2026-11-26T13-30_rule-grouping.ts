import { sql, type Kysely } from 'kysely';

/**
 * Grouping (Alertmanager's group_by / group_wait / group_interval):
 * - `group_by` (label names; null: one message per alert, as before), `group_wait` and
 *   `group_interval` (Alertmanager durations; null: `0s` and `5m`) on every rule table;
 * - `notifications.group_key`: the group a grouped rule's row waits in (its `pending` rows are
 *   sent together by the group's `group_flush` timer, not one by one), with the index the
 *   flush reads them through;
 * - `notification_timers.group_id` may be null: a group's `group_flush` timer is no one alert
 *   group's.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['slack_rules', 'email_rules', 'webhook_rules']) {
    await db.schema
      .alterTable(table)
      .addColumn('group_by', sql`text[]`)
      .addColumn('group_wait', 'text')
      .addColumn('group_interval', 'text')
      .execute();
  }
  await db.schema.alterTable('notifications').addColumn('group_key', 'text').execute();
  // A group's flush timer belongs to no one alert group.
  await sql`alter table notification_timers alter column group_id drop not null`.execute(db);
  await sql`create index notifications_group_pending on notifications (notifier, coalesce(rule_id, webhook_rule_id), group_key, id) where status = 'pending' and group_key is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists notifications_group_pending`.execute(db);
  await db.schema.alterTable('notifications').dropColumn('group_key').execute();
  await sql`delete from notification_timers where group_id is null`.execute(db);
  await sql`alter table notification_timers alter column group_id set not null`.execute(db);
  for (const table of ['slack_rules', 'email_rules', 'webhook_rules']) {
    await db.schema.alterTable(table).dropColumn('group_by').dropColumn('group_wait').dropColumn('group_interval').execute();
  }
}
