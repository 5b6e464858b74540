import { sql, type Kysely } from 'kysely';

/**
 * Routing policy, second part (timers, repeats, escalation, the end of a silence):
 * - `notification_timers`: due work of the notifiers, one row per (kind, notifier, rule,
 *   instance, group key), picked with FOR UPDATE SKIP LOCKED by any replica and leased while
 *   it is worked on (`leased_until`): a notifier that dies mid-way leaves the row to the next
 *   replica once the lease has passed. Kinds: `repeat` (tell a still-firing episode again),
 *   `silence_end` (a held-back firing is told once no silence or inhibition holds it),
 *   `escalation` (tell the `escalate_to` rule's receiver), `group_flush` (reserved for grouping);
 * - `repeat_interval`, `escalate_to`, `escalate_after` on every rule table (durations in
 *   Alertmanager's syntax, null: never);
 * - `notifications.sequence` / `email_queue.sequence`: the n-th repeat of an episode under a
 *   rule (0 for everything else); the unique indexes that keep one row per (instance, rule,
 *   kind) now include it, and `notifications.kind` also takes `repeat` and `escalation`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['slack_rules', 'email_rules', 'webhook_rules']) {
    await db.schema
      .alterTable(table)
      .addColumn('repeat_interval', 'text')
      .addColumn('escalate_to', 'bigint', (c) => c.references(`${table}.id`).onDelete('set null'))
      .addColumn('escalate_after', 'text')
      .execute();
  }

  await db.schema
    .createTable('notification_timers')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('repeat', 'silence_end', 'escalation', 'group_flush')`))
    .addColumn('notifier', 'text', (c) => c.notNull().check(sql`notifier in ('slack', 'email', 'webhook')`))
    .addColumn('rule_id', 'bigint', (c) => c.notNull())
    .addColumn('group_id', 'bigint', (c) => c.notNull().references('alert_groups.id').onDelete('cascade'))
    .addColumn('instance_id', 'bigint', (c) => c.references('alert_instances.id').onDelete('cascade'))
    .addColumn('group_key', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('sequence', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('leased_until', 'timestamptz')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create unique index notification_timers_once on notification_timers (kind, notifier, rule_id, instance_id, group_key) nulls not distinct`.execute(
    db,
  );
  await sql`create index notification_timers_due on notification_timers (notifier, due_at)`.execute(db);
  // Retention deletes instances and groups: their timers go with them (cascade) through these.
  await sql`create index notification_timers_instance on notification_timers (instance_id)`.execute(db);
  await sql`create index notification_timers_group on notification_timers (group_id)`.execute(db);

  await db.schema
    .alterTable('notifications')
    .addColumn('sequence', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`alter table notifications drop constraint notifications_kind_check`.execute(db);
  await sql`alter table notifications add constraint notifications_kind_check check (kind in ('firing', 'resolved', 'repeat', 'escalation'))`.execute(db);
  await sql`drop index notifications_once_per_instance_rule_kind`.execute(db);
  await sql`create unique index notifications_once_per_instance_rule_kind on notifications (instance_id, notifier, coalesce(rule_id, 0), coalesce(webhook_rule_id, 0), kind, sequence)`.execute(
    db,
  );

  await db.schema
    .alterTable('email_queue')
    .addColumn('sequence', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`drop index email_queue_once_per_instance_rule_kind`.execute(db);
  await sql`create unique index email_queue_once_per_instance_rule_kind on email_queue (instance_id, coalesce(rule_id, 0), kind, sequence) where instance_id is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from email_queue where sequence <> 0 or kind in ('repeat', 'escalation')`.execute(db);
  await sql`drop index email_queue_once_per_instance_rule_kind`.execute(db);
  await sql`create unique index email_queue_once_per_instance_rule_kind on email_queue (instance_id, coalesce(rule_id, 0), kind) where instance_id is not null`.execute(
    db,
  );
  await db.schema.alterTable('email_queue').dropColumn('sequence').execute();

  await sql`delete from notifications where sequence <> 0 or kind in ('repeat', 'escalation')`.execute(db);
  await sql`drop index notifications_once_per_instance_rule_kind`.execute(db);
  await sql`create unique index notifications_once_per_instance_rule_kind on notifications (instance_id, notifier, coalesce(rule_id, 0), coalesce(webhook_rule_id, 0), kind)`.execute(
    db,
  );
  await sql`alter table notifications drop constraint notifications_kind_check`.execute(db);
  await sql`alter table notifications add constraint notifications_kind_check check (kind in ('firing', 'resolved'))`.execute(db);
  await db.schema.alterTable('notifications').dropColumn('sequence').execute();

  await db.schema.dropTable('notification_timers').execute();
  for (const table of ['slack_rules', 'email_rules', 'webhook_rules']) {
    await db.schema.alterTable(table).dropColumn('repeat_interval').dropColumn('escalate_to').dropColumn('escalate_after').execute();
  }
}
