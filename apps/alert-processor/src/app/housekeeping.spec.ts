import { createDb, deleteInBatches, type Database } from '@sentryhub/db';
import { createLogger } from '@sentryhub/service-runtime';
import { createTestDatabase, waitFor, type TestDatabase } from '@sentryhub/testing';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyRetention, startHousekeeping } from './housekeeping';
import { retentionEnv, retentionPolicy, type RetentionPolicy } from './retention';
import { z } from 'zod';

const NOW = new Date('2026-06-01T12:00:00Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000);
const POLICY: RetentionPolicy = { notificationsDays: 90, auditLogDays: 365, resolvedAlertsDays: 90, batchSize: 7 };

let database: TestDatabase;
let db: Kysely<Database>;

beforeAll(async () => {
  database = await createTestDatabase('retention');
  db = database.db;
});

afterAll(async () => {
  await database?.destroy();
});

beforeEach(async () => {
  await sql`truncate alert_groups, alert_instances, notifications, email_queue, audit_log, alert_comments restart identity cascade`.execute(db);
});

let fingerprints = 0;
async function group(status: 'firing' | 'resolved', lastSeen: Date): Promise<number> {
  const fingerprint = `fp-${++fingerprints}`;
  const row = await db
    .insertInto('alert_groups')
    .values({
      fingerprint,
      name: fingerprint,
      labels: JSON.stringify({ alertname: fingerprint }),
      severity: 'warning',
      instance: null,
      source: 'test',
      current_status: status,
      firing_count: 1,
      first_occurrence: lastSeen,
      last_occurrence: lastSeen,
    } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

async function instance(groupId: number, status: 'firing' | 'resolved', startsAt: Date, endsAt: Date | null): Promise<number> {
  const row = await db
    .insertInto('alert_instances')
    .values({ group_id: groupId, status, starts_at: startsAt, ends_at: endsAt, created_at: startsAt } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

async function notification(groupId: number, instanceId: number, createdAt: Date, kind: 'firing' | 'resolved' = 'firing'): Promise<number> {
  const row = await db
    .insertInto('notifications')
    .values({
      channel: '#c',
      group_id: groupId,
      instance_id: instanceId,
      kind,
      status: 'sent',
      text: 't',
      created_at: createdAt,
      updated_at: createdAt,
    } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

async function email(groupId: number, instanceId: number, updatedAt: Date): Promise<number> {
  const row = await db
    .insertInto('email_queue')
    .values({
      group_id: groupId,
      instance_id: instanceId,
      kind: 'firing',
      recipients: sql`array['ops@example.com']`,
      subject: 's',
      body_text: 'b',
      status: 'failed',
      created_at: updatedAt,
      updated_at: updatedAt,
    } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

async function audit(count: number, at: Date, prefix: string): Promise<void> {
  const rows = Array.from({ length: count }, (_, index) => ({
    event_id: `${prefix}-${index}`,
    actor: 'key:test',
    entity: 'rule',
    entity_id: String(index),
    action: 'update',
    changes: '{}',
    at,
  }));
  for (let start = 0; start < rows.length; start += 1_000)
    await db
      .insertInto('audit_log')
      .values(rows.slice(start, start + 1_000) as never)
      .execute();
}

const ids = async (table: 'alert_groups' | 'alert_instances' | 'notifications' | 'email_queue' | 'audit_log') =>
  (await sql<{ id: string }>`select id from ${sql.table(table)} order by id`.execute(db)).rows.map((row) => Number(row.id));

describe('retention', () => {
  it('deletes rows past their retention, keeps those within it, and never cascades away younger rows', async () => {
    // An old episode, over long ago, with its notifications: all of it goes.
    const oldGroup = await group('resolved', daysAgo(200));
    const oldEpisode = await instance(oldGroup, 'resolved', daysAgo(201), daysAgo(200));
    await notification(oldGroup, oldEpisode, daysAgo(201), 'firing');
    await notification(oldGroup, oldEpisode, daysAgo(200), 'resolved');

    // Firing for 200 days: its old firing notification stays (the resolved one is yet to come), so does the group.
    const longFiring = await group('firing', daysAgo(1));
    const longEpisode = await instance(longFiring, 'firing', daysAgo(200), null);
    const keptNotification = await notification(longFiring, longEpisode, daysAgo(200));

    // An old episode of a group that fired again recently: the episode goes, the group stays.
    const refired = await group('resolved', daysAgo(10));
    await instance(refired, 'resolved', daysAgo(150), daysAgo(149));
    const recentEpisode = await instance(refired, 'resolved', daysAgo(11), daysAgo(10));
    const recentNotification = await notification(refired, recentEpisode, daysAgo(11));

    // Ended 91 days ago but its notification is 89 days old: both stay until the notification's own retention.
    const edge = await group('resolved', daysAgo(91));
    const edgeEpisode = await instance(edge, 'resolved', daysAgo(92), daysAgo(91));
    const edgeNotification = await notification(edge, edgeEpisode, daysAgo(89));

    // An old episode that a (failed) email row still refers to: kept with its group.
    const emailed = await group('resolved', daysAgo(300));
    const emailedEpisode = await instance(emailed, 'resolved', daysAgo(301), daysAgo(300));
    const emailRow = await email(emailed, emailedEpisode, daysAgo(300));

    await audit(3, daysAgo(366), 'old');
    await audit(2, daysAgo(364), 'new');

    const run = await applyRetention(db, POLICY, NOW);
    expect(run).toEqual({ notifications: 2, auditLog: 3, alertInstances: 2, alertGroups: 1 });

    expect(await ids('alert_groups')).toEqual([longFiring, refired, edge, emailed]);
    expect(await ids('alert_instances')).toEqual([longEpisode, recentEpisode, edgeEpisode, emailedEpisode]);
    expect(await ids('notifications')).toEqual([keptNotification, recentNotification, edgeNotification]);
    expect(await ids('email_queue')).toEqual([emailRow]);
    const auditLeft = await db.selectFrom('audit_log').select('event_id').orderBy('event_id').execute();
    expect(auditLeft.map((row) => row.event_id)).toEqual(['new-0', 'new-1']);

    // Nothing more to do: a second pass deletes nothing.
    expect(await applyRetention(db, POLICY, NOW)).toEqual({ notifications: 0, auditLog: 0, alertInstances: 0, alertGroups: 0 });
    // 0 days keeps everything.
    expect(
      await applyRetention(db, { ...POLICY, notificationsDays: 0, auditLogDays: 0, resolvedAlertsDays: 0 }, new Date(NOW.getTime() + 10_000 * 86_400_000)),
    ).toEqual({
      notifications: 0,
      auditLog: 0,
      alertInstances: 0,
      alertGroups: 0,
    });
  });

  it('two replicas running at once delete each row once (the counts add up to the rows past their age)', async () => {
    const OLD = 4_000;
    await audit(OLD, daysAgo(400), 'old');
    await audit(500, daysAgo(10), 'new');
    const oldGroups: number[] = [];
    for (let n = 0; n < 60; n++) {
      const id = await group('resolved', daysAgo(120));
      await instance(id, 'resolved', daysAgo(121), daysAgo(120));
      oldGroups.push(id);
    }
    // Two processes: two pools, as two replicas would have.
    const replicas = [createDb(database.url, { maxConnections: 2 }), createDb(database.url, { maxConnections: 2 })];
    try {
      const runs = await Promise.all(replicas.map((replica) => applyRetention(replica, { ...POLICY, batchSize: 50 }, NOW)));
      const total = (key: keyof (typeof runs)[number]) => runs.reduce((sum, run) => sum + run[key], 0);
      expect(total('auditLog')).toBe(OLD);
      expect(total('alertInstances')).toBe(oldGroups.length);
      expect(total('alertGroups')).toBe(oldGroups.length);
      expect(await ids('alert_groups')).toEqual([]);
      expect((await ids('audit_log')).length).toBe(500);
      console.log(`audit_log rows deleted by each replica: ${runs.map((run) => run.auditLog).join(' + ')} = ${OLD}`);
    } finally {
      await Promise.all(replicas.map((replica) => replica.destroy()));
    }
  });

  it('deleteInBatches skips rows another transaction holds instead of waiting for them', async () => {
    await audit(20, daysAgo(400), 'old');
    const [first] = await ids('audit_log');
    const other = createDb(database.url, { maxConnections: 1 });
    try {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked: () => void = () => undefined;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holder = other.transaction().execute(async (trx) => {
        await sql`select id from audit_log where id = ${first} for update`.execute(trx);
        locked();
        await released;
      });
      await isLocked;
      const started = Date.now();
      const deleted = await deleteInBatches(db, { table: 'audit_log', where: sql`audit_log.at < ${daysAgo(365)}`, batchSize: 5 });
      expect(deleted).toBe(19);
      expect(Date.now() - started).toBeLessThan(5_000);
      release();
      await holder;
      expect(await ids('audit_log')).toEqual([first]);
    } finally {
      await other.destroy();
    }
    await expect(deleteInBatches(db, { table: 'audit_log', where: sql`true`, batchSize: 0 })).rejects.toThrow('batchSize must be a positive integer, got 0');
  });

  it('the job runs at start and stops cleanly; its settings have documented defaults and refuse nonsense', async () => {
    await audit(5, daysAgo(400), 'old');
    const stop = startHousekeeping(db, POLICY, createLogger('retention-test', 'silent'), 60_000);
    await waitFor(async () => ((await ids('audit_log')).length === 0 ? true : null), 10_000, 'the first pass');
    await stop();

    const schema = z.object(retentionEnv);
    expect(retentionPolicy(schema.parse({}))).toEqual({ notificationsDays: 90, auditLogDays: 365, resolvedAlertsDays: 90, batchSize: 1_000 });
    const refused = schema.safeParse({ RETENTION_AUDIT_LOG_DAYS: '-1' });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]).toMatchObject({ path: ['RETENTION_AUDIT_LOG_DAYS'], message: '0 keeps rows forever; otherwise a number of days' });
  });
});
