import { sql, type Kysely } from 'kysely';

/** The first tables of docs/contracts.md §6. */
export async function up(db: Kysely<any>): Promise<void> {
  const now = sql`now()`;

  await db.schema
    .createTable('alert_groups')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('fingerprint', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('labels', 'jsonb', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('instance', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('current_status', 'text', (c) => c.notNull().check(sql`current_status in ('firing', 'resolved')`))
    .addColumn('firing_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('first_occurrence', 'timestamptz', (c) => c.notNull())
    .addColumn('last_occurrence', 'timestamptz', (c) => c.notNull())
    .addColumn('acknowledged', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('acknowledged_by', 'text')
    .addColumn('acknowledged_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('alert_groups_last_occurrence_idx').on('alert_groups').column('last_occurrence').execute();
  await db.schema.createIndex('alert_groups_labels_idx').on('alert_groups').using('gin').column('labels').execute();

  await db.schema
    .createTable('alert_instances')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('group_id', 'bigint', (c) => c.notNull().references('alert_groups.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('firing', 'resolved')`))
    .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ends_at', 'timestamptz')
    .addColumn('annotations', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('generator_url', 'text')
    .addColumn('resolution_type', 'text', (c) => c.check(sql`resolution_type in ('normal', 'inferred', 'manual')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('alert_instances_group_starts_at_key', ['group_id', 'starts_at'])
    .execute();
  // At most one open episode per group: the database, not luck, keeps this true.
  await sql`create unique index alert_instances_one_open_per_group on alert_instances (group_id) where status = 'firing'`.execute(db);

  await db.schema
    .createTable('alert_comments')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('group_id', 'bigint', (c) => c.notNull().references('alert_groups.id').onDelete('cascade'))
    .addColumn('author', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('alert_acknowledgements')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('group_id', 'bigint', (c) => c.notNull().references('alert_groups.id').onDelete('cascade'))
    .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('acknowledge', 'unacknowledge')`))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('comment', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('silences')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('matchers', 'jsonb', (c) => c.notNull())
    .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ends_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('silences_ends_after_starts', sql`ends_at > starts_at`)
    .execute();
  await db.schema.createIndex('silences_ends_at_idx').on('silences').column('ends_at').execute();

  for (const table of ['slack_rules', 'email_rules'] as const) {
    let builder = db.schema
      .createTable(table)
      .addColumn('id', 'bigserial', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
      .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('match_criteria', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('send_resolved', 'boolean', (c) => c.notNull().defaultTo(true))
      .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now));
    builder =
      table === 'slack_rules'
        ? builder
            .addColumn('slack_channel', 'text')
            .addColumn('message_template', 'text', (c) => c.notNull())
            .addColumn('resolved_message_template', 'text')
        : builder
            .addColumn('recipients', sql`text[]`, (c) => c.notNull())
            .addColumn('subject_template', 'text', (c) => c.notNull())
            .addColumn('body_template', 'text', (c) => c.notNull());
    await builder.execute();
  }

  await db.schema
    .createTable('notifications')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('rule_id', 'bigint', (c) => c.references('slack_rules.id').onDelete('set null'))
    .addColumn('group_id', 'bigint', (c) => c.notNull().references('alert_groups.id').onDelete('cascade'))
    .addColumn('instance_id', 'bigint', (c) => c.notNull().references('alert_instances.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('firing', 'resolved')`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'sent', 'failed', 'suppressed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  // (instance, rule, kind) is delivered at most once, even when the event is redelivered.
  await sql`create unique index notifications_once_per_instance_rule_kind on notifications (instance_id, coalesce(rule_id, 0), kind)`.execute(db);
  await db.schema.createIndex('notifications_group_idx').on('notifications').column('group_id').execute();

  await db.schema
    .createTable('email_queue')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('rule_id', 'bigint', (c) => c.references('email_rules.id').onDelete('set null'))
    .addColumn('group_id', 'bigint', (c) => c.references('alert_groups.id').onDelete('cascade'))
    .addColumn('instance_id', 'bigint', (c) => c.references('alert_instances.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('recipients', sql`text[]`, (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body_text', 'text', (c) => c.notNull())
    .addColumn('body_html', 'text')
    .addColumn('attachments', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'processing', 'completed', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await sql`create unique index email_queue_once_per_instance_rule_kind on email_queue (instance_id, coalesce(rule_id, 0), kind) where instance_id is not null`.execute(
    db,
  );
  await db.schema.createIndex('email_queue_status_idx').on('email_queue').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull().unique())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('entity', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('changes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_entity_idx').on('audit_log').columns(['entity', 'entity_id']).execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('viewer', 'editor', 'admin')`))
    .addColumn('key_prefix', 'text', (c) => c.notNull().unique())
    .addColumn('key_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'api_keys',
    'audit_log',
    'email_queue',
    'notifications',
    'email_rules',
    'slack_rules',
    'silences',
    'alert_acknowledgements',
    'alert_comments',
    'alert_instances',
    'alert_groups',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
