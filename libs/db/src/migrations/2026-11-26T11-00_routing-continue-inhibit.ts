import { sql, type Kysely } from 'kysely';

/**
 * Routing policy, first part:
 * - `slack_rules.continue` / `email_rules.continue`: after this rule applied, the search for
 *   matching rules goes on (Alertmanager's route `continue`); false keeps one rule per kind;
 * - `inhibit_rules`: while a firing group matches `source_matchers`, groups matching
 *   `target_matchers` with the same values of the `equal` labels are not told;
 * - `notifications.status` and `email_queue.status` take `inhibited`, and both tables name the
 *   firing group that held the notification back in `inhibited_by_group_id`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['slack_rules', 'email_rules']) {
    await db.schema
      .alterTable(table)
      .addColumn('continue', 'boolean', (c) => c.notNull().defaultTo(false))
      .execute();
  }

  await db.schema
    .createTable('inhibit_rules')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.unique())
    .addColumn('source_matchers', 'jsonb', (c) => c.notNull())
    .addColumn('target_matchers', 'jsonb', (c) => c.notNull())
    .addColumn('equal', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('comment', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await sql`alter table notifications drop constraint notifications_status_check`.execute(db);
  await sql`alter table notifications add constraint notifications_status_check check (status in ('pending', 'sent', 'failed', 'suppressed', 'inhibited'))`.execute(
    db,
  );
  await sql`alter table email_queue drop constraint email_queue_status_check`.execute(db);
  await sql`alter table email_queue add constraint email_queue_status_check check (status in ('pending', 'processing', 'completed', 'failed', 'inhibited'))`.execute(
    db,
  );
  for (const table of ['notifications', 'email_queue']) {
    await db.schema
      .alterTable(table)
      .addColumn('inhibited_by_group_id', 'bigint', (c) => c.references('alert_groups.id').onDelete('set null'))
      .execute();
    // Deleting a group (retention) looks up the rows it inhibited.
    await sql`create index ${sql.raw(`${table}_inhibited_by_idx`)} on ${sql.table(table)} (inhibited_by_group_id) where inhibited_by_group_id is not null`.execute(
      db,
    );
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['notifications', 'email_queue']) {
    await sql`drop index if exists ${sql.raw(`${table}_inhibited_by_idx`)}`.execute(db);
    await db.schema.alterTable(table).dropColumn('inhibited_by_group_id').execute();
  }
  await sql`delete from notifications where status = 'inhibited'`.execute(db);
  await sql`alter table notifications drop constraint notifications_status_check`.execute(db);
  await sql`alter table notifications add constraint notifications_status_check check (status in ('pending', 'sent', 'failed', 'suppressed'))`.execute(db);
  await sql`delete from email_queue where status = 'inhibited'`.execute(db);
  await sql`alter table email_queue drop constraint email_queue_status_check`.execute(db);
  await sql`alter table email_queue add constraint email_queue_status_check check (status in ('pending', 'processing', 'completed', 'failed'))`.execute(db);
  await db.schema.dropTable('inhibit_rules').execute();
  for (const table of ['slack_rules', 'email_rules']) {
    await db.schema.alterTable(table).dropColumn('continue').execute();
  }
}
