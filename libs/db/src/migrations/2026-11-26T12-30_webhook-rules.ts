import { sql, type Kysely } from 'kysely';

/**
 * Outgoing webhooks (the webhook-notifier):
 * - `webhook_rules`: the matching columns of every rule kind, the receiver it sends to (a name
 *   from WEBHOOK_RECEIVERS_FILE, never a URL), and its body: a Liquid template that renders
 *   JSON, or a preset shipped in code (PagerDuty, Teams, Opsgenie, Alertmanager v4);
 * - `notifications.notifier` (`slack` or `webhook`) and `notifications.webhook_rule_id`: a
 *   webhook notification names its rule there (`rule_id`, which references `slack_rules`, stays
 *   null), so that every existing reader of `rule_id` still sees Slack rules only. It has no
 *   foreign key: the rows of a deleted rule keep its id (two deleted rules' rows of one episode
 *   would otherwise collide in the unique index);
 * - the unique index that keeps one row per (instance, rule, kind) now covers both notifiers.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_rules')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('match_criteria', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('send_resolved', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('continue', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('receiver', 'text', (c) => c.notNull())
    .addColumn('body_template', 'text')
    .addColumn('preset', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('webhook_rules_has_body', sql`body_template is not null or preset is not null`)
    .execute();

  await db.schema
    .alterTable('notifications')
    .addColumn('notifier', 'text', (c) =>
      c
        .notNull()
        .defaultTo('slack')
        .check(sql`notifier in ('slack', 'webhook')`),
    )
    .addColumn('webhook_rule_id', 'bigint')
    .execute();
  await sql`drop index notifications_once_per_instance_rule_kind`.execute(db);
  await sql`create unique index notifications_once_per_instance_rule_kind on notifications (instance_id, notifier, coalesce(rule_id, 0), coalesce(webhook_rule_id, 0), kind)`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from notifications where notifier = 'webhook'`.execute(db);
  await sql`drop index notifications_once_per_instance_rule_kind`.execute(db);
  await sql`create unique index notifications_once_per_instance_rule_kind on notifications (instance_id, coalesce(rule_id, 0), kind)`.execute(db);
  await db.schema.alterTable('notifications').dropColumn('webhook_rule_id').dropColumn('notifier').execute();
  await db.schema.dropTable('webhook_rules').execute();
}
