import { Kysely, PostgresDialect } from 'kysely';
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely/migration';
import pg from 'pg';
import * as initialSchema from './migrations/2026-11-26T00-00_initial-schema';
import * as alertOutbox from './migrations/2026-11-26T01-00_alert-outbox';
import * as instanceIntakeSource from './migrations/2026-11-26T02-00_instance-intake-source';
import * as slackRuleOptions from './migrations/2026-11-26T03-00_slack-rule-options';
import * as emailQueueSchedule from './migrations/2026-11-26T04-00_email-queue-schedule';
import * as notificationDeliveredVia from './migrations/2026-11-26T05-00_notification-delivered-via';
import * as alertGroupsFillfactor from './migrations/2026-11-26T06-00_alert-groups-fillfactor';
import * as outboxPayloadText from './migrations/2026-11-26T07-00_outbox-payload-text';
import * as silenceUuid from './migrations/2026-11-26T08-00_silence-uuid';
import * as retentionIndexes from './migrations/2026-11-26T09-00_retention-indexes';
import * as alertLease from './migrations/2026-11-26T10-00_alert-lease';
import * as routingContinueInhibit from './migrations/2026-11-26T11-00_routing-continue-inhibit';
import * as webhookRules from './migrations/2026-11-26T12-30_webhook-rules';
import * as notificationTimers from './migrations/2026-11-26T13-00_notification-timers';
import * as ruleGrouping from './migrations/2026-11-26T13-30_rule-grouping';
import * as outboxRefusals from './migrations/2026-11-26T14-00_outbox-refusals';
import * as emailGrouping from './migrations/2026-12-06T11-30_email-grouping';
import * as groupRepeatIndexes from './migrations/2026-12-06T16-00_group-repeat-indexes';
import * as hotLeaseRenewals from './migrations/2026-12-06T23-30_hot-lease-renewals';

/**
 * Migrations are listed here, not read from a folder: the apps are bundled into one file each,
 * so a folder scan (FileMigrationProvider) would find nothing in `dist/`. Names keep the ISO
 * date prefix so that their order is their name order.
 */
export const migrations: Record<string, Migration> = {
  '2026-11-26T00-00_initial-schema': initialSchema,
  '2026-11-26T01-00_alert-outbox': alertOutbox,
  '2026-11-26T02-00_instance-intake-source': instanceIntakeSource,
  '2026-11-26T03-00_slack-rule-options': slackRuleOptions,
  '2026-11-26T04-00_email-queue-schedule': emailQueueSchedule,
  '2026-11-26T05-00_notification-delivered-via': notificationDeliveredVia,
  '2026-11-26T06-00_alert-groups-fillfactor': alertGroupsFillfactor,
  '2026-11-26T07-00_outbox-payload-text': outboxPayloadText,
  '2026-11-26T08-00_silence-uuid': silenceUuid,
  '2026-11-26T09-00_retention-indexes': retentionIndexes,
  '2026-11-26T10-00_alert-lease': alertLease,
  '2026-11-26T11-00_routing-continue-inhibit': routingContinueInhibit,
  '2026-11-26T12-30_webhook-rules': webhookRules,
  '2026-11-26T13-00_notification-timers': notificationTimers,
  '2026-11-26T13-30_rule-grouping': ruleGrouping,
  '2026-11-26T14-00_outbox-refusals': outboxRefusals,
  '2026-12-06T11-30_email-grouping': emailGrouping,
  '2026-12-06T16-00_group-repeat-indexes': groupRepeatIndexes,
  '2026-12-06T23-30_hot-lease-renewals': hotLeaseRenewals,
};

const staticProvider: MigrationProvider = { getMigrations: async () => migrations };

/** Runs every pending migration. Safe from several replicas at once: kysely takes a lock. */
export async function migrateToLatest<T>(db: Kysely<T>): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: staticProvider });
  return migrator.migrateToLatest();
}

const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

/** Creates the database of a URL when it is missing; two callers racing both succeed. */
export async function ensureDatabase(connectionString: string): Promise<boolean> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`create database "${name.replaceAll('"', '""')}"`);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === DUPLICATE_DATABASE || code === UNIQUE_VIOLATION) return false;
    throw error;
  } finally {
    await client.end();
  }
}

/** ensureDatabase, then migrate to latest: what `npm run db:migrate` does. */
export async function migrateDatabase(connectionString: string): Promise<MigrationResultSet> {
  await ensureDatabase(connectionString);
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString, max: 1 }) }) });
  try {
    return await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
}
