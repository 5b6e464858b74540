import type { Kysely } from 'kysely';

/**
 * Which door each episode came in by (webhook, api, external). The group's `source` is the
 * `source` label when there is one, so the intake itself is recorded per instance.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('alert_instances').addColumn('intake_source', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('alert_instances').dropColumn('intake_source').execute();
}
