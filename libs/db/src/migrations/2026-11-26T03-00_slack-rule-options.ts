import { sql, type Kysely } from 'kysely';

/**
 * Slack options of issue 4:
 * - `slack_rules.replace_ip_addresses`: the rule's messages have every IPv4/IPv6 address
 *   replaced with `IP` (the source system always did this; here a rule opts in);
 * - `notifications.digest_id` / `digest_size`: a notification that went out folded into a
 *   digest message (per-channel pacing) names that digest and how many notifications it
 *   carried. Each row keeps its own text; the rows of one digest share its id.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('slack_rules')
    .addColumn('replace_ip_addresses', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema.alterTable('notifications').addColumn('digest_id', 'uuid').addColumn('digest_size', 'integer').execute();
  await sql`create index notifications_digest_idx on notifications (digest_id) where digest_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('notifications_digest_idx').execute();
  await db.schema.alterTable('notifications').dropColumn('digest_size').dropColumn('digest_id').execute();
  await db.schema.alterTable('slack_rules').dropColumn('replace_ip_addresses').execute();
}
