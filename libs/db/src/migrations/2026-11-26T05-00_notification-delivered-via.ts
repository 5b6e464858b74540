import type { Kysely } from 'kysely';

/** Where a sent Slack notification went: `slack` (through the proxy) or `sink` (the log only). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('notifications').addColumn('delivered_via', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('notifications').dropColumn('delivered_via').execute();
}
