import { randomUUID } from 'node:crypto';
import type { AlertChange, NormalizedAlert, WebhookAlert } from '@sentryhub/contracts';
import { fingerprint, normalizeWebhookAlert } from '@sentryhub/alert-identity';
import { createTestDatabase, waitFor, type TestDatabase } from '@sentryhub/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeBatch, type BatchAlert } from './batch-store';

let test: TestDatabase;
let names = 0;
const RECEIVED = new Date('2026-11-26T12:00:00.000Z');
const T1 = '2026-11-26T10:00:00.000Z';
const T2 = '2026-11-26T11:00:00.000Z';
const T3 = '2026-11-26T11:30:00.000Z';

/** A fresh alert name per case, so that cases do not see each other's groups. */
const uniqueName = (base: string) => `${base}-${++names}`;

function alert(name: string | null, status: 'firing' | 'resolved', startsAt: string | null, endsAt: string | null = null): NormalizedAlert {
  const labels: Record<string, string> = name === null ? { job: `unnamed-${++names}` } : { alertname: name, severity: 'critical', instance: 'host-1' };
  return { fingerprint: fingerprint(labels), status, labels, annotations: { summary: 'summary' }, startsAt, endsAt, generatorURL: null, extra: {} };
}

const batchOf = (...alerts: NormalizedAlert[]): BatchAlert[] =>
  alerts.map((a) => ({ alert: a, source: 'webhook', receivedAt: RECEIVED, correlationId: 'corr-1' }));

/**
 * Stores a batch and returns the changes its outbox events carry. Each event's body, built from its
 * changes serialised one by one, must be exactly its payload as JSON.
 */
async function store(...alerts: NormalizedAlert[]): Promise<AlertChange[]> {
  const events = await storeBatch(test.db, randomUUID(), batchOf(...alerts));
  for (const event of events) {
    expect(event.body).toBe(JSON.stringify(event.payload));
    expect(event.changeBodies).toEqual(event.payload.changes.map((change) => JSON.stringify(change)));
  }
  return events.flatMap((event) => event.payload.changes);
}

async function instances(fp: string) {
  return test.db
    .selectFrom('alert_instances')
    .innerJoin('alert_groups', 'alert_groups.id', 'alert_instances.group_id')
    .select(['alert_instances.status', 'alert_instances.starts_at', 'alert_instances.ends_at', 'alert_instances.resolution_type'])
    .where('alert_groups.fingerprint', '=', fp)
    .orderBy('alert_instances.starts_at')
    .execute();
}
const group = (fp: string) => test.db.selectFrom('alert_groups').selectAll().where('fingerprint', '=', fp).executeTakeFirstOrThrow();

beforeAll(async () => {
  test = await createTestDatabase('batch_store');
});
afterAll(async () => {
  await test?.destroy();
});

describe('the alert state rules, one case per rule, on a real PostgreSQL', () => {
  it('new firing: a group and a firing instance, change "created", count 1', async () => {
    const a = alert(uniqueName('New'), 'firing', T1);
    const changes = await store(a);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      change: 'created',
      correlationId: 'corr-1',
      group: { severity: 'critical', instance: 'host-1', source: 'webhook', status: 'firing', firingCount: 1, silenced: false },
      instance: { status: 'firing', startsAt: T1, endsAt: null },
    });
    expect(await instances(a.fingerprint)).toEqual([{ status: 'firing', starts_at: new Date(T1), ends_at: null, resolution_type: null }]);
    const stored = await test.db
      .selectFrom('alert_instances')
      .select(['intake_source', 'annotations', 'generator_url'])
      .where('id', '=', changes[0]?.instance.id ?? 0)
      .executeTakeFirstOrThrow();
    expect(stored).toEqual({ intake_source: 'webhook', annotations: { summary: 'summary' }, generator_url: null });
  });

  it('missing alertname: the group is called "Unknown Alert", severity defaults to warning', async () => {
    const a = alert(null, 'firing', T1);
    const [change] = await store(a);
    expect(change?.group).toMatchObject({ name: 'Unknown Alert', severity: 'warning' });
    expect((await group(a.fingerprint)).name).toBe('Unknown Alert');
  });

  it('duplicate firing: no row, no event', async () => {
    const a = alert(uniqueName('Dup'), 'firing', T1);
    await store(a);
    expect(await store(a)).toEqual([]);
    expect(await instances(a.fingerprint)).toHaveLength(1);
  });

  it('resolved matching startsAt: closed "normal" with its endsAt', async () => {
    const name = uniqueName('Res');
    await store(alert(name, 'firing', T1));
    const [change] = await store(alert(name, 'resolved', T1, T2));
    expect(change).toMatchObject({ change: 'resolved', group: { status: 'resolved' }, instance: { status: 'resolved', endsAt: T2, resolutionType: 'normal' } });
  });

  it('duplicate resolved: no change', async () => {
    const name = uniqueName('DupRes');
    await store(alert(name, 'firing', T1));
    await store(alert(name, 'resolved', T1, T2));
    expect(await store(alert(name, 'resolved', T1, T2))).toEqual([]);
  });

  it('re-fire of a resolved group: a new episode, count grows, acknowledgement cleared', async () => {
    const name = uniqueName('Refire');
    const a = alert(name, 'firing', T1);
    await store(a);
    await store(alert(name, 'resolved', T1, T2));
    await test.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'alice', acknowledged_at: new Date() })
      .where('fingerprint', '=', a.fingerprint)
      .execute();
    const [change] = await store(alert(name, 'firing', T3));
    expect(change).toMatchObject({ change: 'refired', group: { firingCount: 2, acknowledged: false, status: 'firing' } });
    expect(await group(a.fingerprint)).toMatchObject({ firing_count: 2, acknowledged: false, acknowledged_by: null });
  });

  it('firing with a new startsAt: the open one closes "inferred", the count stays', async () => {
    const name = uniqueName('NewStart');
    const a = alert(name, 'firing', T1);
    await store(a);
    const [change] = await store(alert(name, 'firing', T2));
    expect(change).toMatchObject({ change: 'refired', group: { firingCount: 1 } });
    expect((await instances(a.fingerprint)).map((i) => [i.status, i.resolution_type, i.ends_at?.toISOString() ?? null])).toEqual([
      ['resolved', 'inferred', T2],
      ['firing', null, null],
    ]);
  });

  it('zero endsAt is read as "not ended"', async () => {
    const webhookAlert: WebhookAlert = {
      status: 'firing',
      labels: { alertname: uniqueName('Zero') },
      annotations: {},
      startsAt: T1,
      endsAt: '0001-01-01T00:00:00Z',
    };
    const normalized = normalizeWebhookAlert(webhookAlert);
    expect(normalized.endsAt).toBeNull();
    const [change] = await store(normalized);
    expect(change?.instance.endsAt).toBeNull();
    expect((await instances(normalized.fingerprint))[0]?.ends_at).toBeNull();
  });

  it('resolved with nothing open: a new resolved instance ("normal")', async () => {
    const a = alert(uniqueName('Lonely'), 'resolved', T1, T2);
    const [change] = await store(a);
    expect(change).toMatchObject({
      change: 'resolved',
      instance: { status: 'resolved', startsAt: T1, endsAt: T2, resolutionType: 'normal' },
      group: { firingCount: 0, status: 'resolved' },
    });
  });

  it('resolved with no startsAt match: the latest open episode closes "inferred", and a late firing of the named episode stays resolved', async () => {
    const name = uniqueName('Infer');
    const a = alert(name, 'firing', T1);
    await store(a);
    const [change] = await store(alert(name, 'resolved', T2, T3));
    expect(change).toMatchObject({ change: 'resolved', instance: { startsAt: T1, endsAt: T3, resolutionType: 'inferred' } });
    expect(await store(alert(name, 'firing', T2))).toEqual([]);
    expect((await instances(a.fingerprint)).map((i) => [i.status, i.resolution_type])).toEqual([
      ['resolved', 'inferred'],
      ['resolved', 'normal'],
    ]);
    expect((await group(a.fingerprint)).current_status).toBe('resolved');
  });

  it('matches episodes whatever the precision of startsAt (Alertmanager sends nanoseconds)', async () => {
    const name = uniqueName('Nanos');
    const nanos = '2026-11-26T10:00:00.123456789Z';
    const a = alert(name, 'firing', nanos);
    expect(await store(a)).toHaveLength(1);
    expect(await store(a)).toEqual([]);
    const [change] = await store(alert(name, 'resolved', nanos, T2));
    expect(change).toMatchObject({ change: 'resolved', instance: { resolutionType: 'normal' } });
    expect(await store(alert(name, 'resolved', nanos, T2))).toEqual([]);
    // A newer episode opens; the old resolved redelivered must still be found as a duplicate.
    await store(alert(name, 'firing', T3));
    expect(await store(alert(name, 'resolved', nanos, T2))).toEqual([]);
    expect(await instances(a.fingerprint)).toHaveLength(2);
  });

  it('keeps at most one open episode per group: the database refuses a second one', async () => {
    const a = alert(uniqueName('OneOpen'), 'firing', T1);
    await store(a);
    const { id } = await group(a.fingerprint);
    await expect(test.db.insertInto('alert_instances').values({ group_id: id, status: 'firing', starts_at: T2, annotations: '{}' }).execute()).rejects.toThrow(
      /alert_instances_one_open_per_group/,
    );
  });
});

describe('redelivery and reordering', () => {
  it('an expired episode re-sent together with a newer one: re-opened, closed "inferred" for the newer, the batch stored', async () => {
    const name = uniqueName('ExpiredThenNewer');
    const lease = '2031-01-01T00:00:00.000Z';
    const first = { ...alert(name, 'firing', T1), leaseEndsAt: lease };
    await store(first);
    // Its lease ran out without a re-send (what lease expiry writes).
    await sql`update alert_instances set status = 'resolved', ends_at = starts_at, resolution_type = 'expired'
      where group_id = (select id from alert_groups where fingerprint = ${first.fingerprint})`.execute(test.db);

    // One request re-sends the expired episode with a running lease and starts a newer one.
    const changes = await store(first, { ...alert(name, 'firing', T2), leaseEndsAt: lease });
    expect(changes.map((change) => [change.change, change.instance.startsAt])).toEqual([
      ['refired', T1],
      ['refired', T2],
    ]);
    expect(await instances(first.fingerprint)).toEqual([
      { status: 'resolved', starts_at: new Date(T1), ends_at: new Date(T2), resolution_type: 'inferred' },
      { status: 'firing', starts_at: new Date(T2), ends_at: null, resolution_type: null },
    ]);
  });

  it('the same payload twice in one batch and across batches: one instance, one event', async () => {
    const a = alert(uniqueName('Twice'), 'firing', T1);
    expect(await store(a, a)).toHaveLength(1);
    expect(await store(a)).toEqual([]);
    expect(await instances(a.fingerprint)).toHaveLength(1);
  });

  it('resolved arriving before its firing: recorded, and the late firing does not re-open it', async () => {
    const name = uniqueName('Early');
    const resolved = alert(name, 'resolved', T1, T2);
    await store(resolved);
    expect(await store(alert(name, 'firing', T1))).toEqual([]);
    expect(await instances(resolved.fingerprint)).toEqual([{ status: 'resolved', starts_at: new Date(T1), ends_at: new Date(T2), resolution_type: 'normal' }]);
    expect((await group(resolved.fingerprint)).current_status).toBe('resolved');
  });

  it('an old firing arriving after a newer resolved never re-opens anything', async () => {
    const name = uniqueName('Old');
    const a = alert(name, 'firing', T2);
    await store(a);
    await store(alert(name, 'resolved', T2, T3));
    expect(await store(alert(name, 'firing', T1))).toEqual([]);
    expect(await instances(a.fingerprint)).toHaveLength(1);
    expect((await group(a.fingerprint)).current_status).toBe('resolved');
  });

  it('an old resolved arriving while a newer episode is open is kept as history, without an event', async () => {
    const name = uniqueName('History');
    const a = alert(name, 'firing', T2);
    await store(a);
    expect(await store(alert(name, 'resolved', T1, '2026-11-26T10:30:00.000Z'))).toEqual([]);
    expect((await instances(a.fingerprint)).map((i) => i.status)).toEqual(['resolved', 'firing']);
    expect((await group(a.fingerprint)).current_status).toBe('firing');
  });

  it('firing and resolved of one episode in the same batch: both changes, one final row', async () => {
    const name = uniqueName('Both');
    const changes = await store(alert(name, 'firing', T1), alert(name, 'resolved', T1, T2));
    expect(changes.map((c) => [c.change, c.instance.status])).toEqual([
      ['created', 'firing'],
      ['resolved', 'resolved'],
    ]);
    expect(changes[0]?.instance.id).toBe(changes[1]?.instance.id);
    expect(await instances(alert(name, 'firing', T1).fingerprint)).toHaveLength(1);
  });

  it('the same batch stored concurrently three times: rows and events exactly once', async () => {
    const batch = [alert(uniqueName('Race'), 'firing', T1), alert(uniqueName('Race'), 'firing', T1)];
    const results = await Promise.allSettled([store(...batch), store(...batch), store(...batch)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []))).toHaveLength(2);
  });
});

describe('silences at processing time', () => {
  it('snapshots whether and until when a group is silenced; an expired silence does not count', async () => {
    const now = new Date();
    const silenced = uniqueName('Silenced');
    const expired = uniqueName('Expired');
    const until = new Date(now.getTime() + 3_600_000);
    await test.db
      .insertInto('silences')
      .values([
        {
          matchers: JSON.stringify([{ name: 'alertname', value: silenced, isEqual: true, isRegex: false }]),
          starts_at: new Date(now.getTime() - 60_000),
          ends_at: until,
          created_by: 'bob',
          comment: 'maintenance',
        },
        {
          matchers: JSON.stringify([{ name: 'alertname', value: expired, isEqual: true, isRegex: false }]),
          starts_at: new Date(now.getTime() - 7_200_000),
          ends_at: new Date(now.getTime() - 1),
          created_by: 'bob',
          comment: 'over',
        },
      ])
      .execute();
    const changes = await store(alert(silenced, 'firing', T1), alert(expired, 'firing', T1));
    const byName = Object.fromEntries(changes.map((c) => [c.group.name, c.group]));
    expect(byName[silenced]).toMatchObject({ silenced: true, silencedUntil: until.toISOString() });
    expect(byName[expired]).toMatchObject({ silenced: false, silencedUntil: null });
  });
});

describe('outbox', () => {
  it('writes one alert.processed event per status in the same transaction as the state', async () => {
    const name = uniqueName('Outbox');
    await store(alert(name, 'firing', T1));
    const batchId = randomUUID();
    const events = await storeBatch(test.db, batchId, batchOf(alert(name, 'resolved', T1, T2), alert(uniqueName('Outbox'), 'firing', T1)));
    expect(events.map((e) => [e.messageId, e.routingKey, e.payload.changes.length])).toEqual([
      [`${batchId}:firing`, 'alert.processed.firing', 1],
      [`${batchId}:resolved`, 'alert.processed.resolved', 1],
    ]);
    const rows = await test.db
      .selectFrom('alert_outbox')
      .select(['message_id', 'routing_key'])
      .where('message_id', 'like', `${batchId}:%`)
      .orderBy('message_id')
      .execute();
    expect(rows).toEqual([
      { message_id: `${batchId}:firing`, routing_key: 'alert.processed.firing' },
      { message_id: `${batchId}:resolved`, routing_key: 'alert.processed.resolved' },
    ]);
  });
});

describe('a silence with an invalid regex written by hand', () => {
  it('is ignored instead of failing the batch', async () => {
    const name = uniqueName('BadSilence');
    const now = new Date();
    await test.db
      .insertInto('silences')
      .values({
        matchers: JSON.stringify([{ name: 'alertname', value: '(', isEqual: true, isRegex: true }]),
        starts_at: new Date(now.getTime() - 60_000),
        ends_at: new Date(now.getTime() + 60_000),
        created_by: 'hand',
        comment: 'broken',
      })
      .execute();
    const [change] = await store(alert(name, 'firing', T1));
    expect(change?.group).toMatchObject({ name, silenced: false });
  });
});

describe('alert_groups storage', () => {
  let own: TestDatabase;
  beforeAll(async () => {
    // Its own database: no other test's writes in the table statistics it reads.
    own = await createTestDatabase('batch_store_hot');
  });
  afterAll(async () => {
    await own?.destroy();
  });

  it("writes new groups' state (their second write in the batch) as HOT updates: no index entries", async () => {
    const NEW_GROUPS = 300;
    const alerts = Array.from({ length: NEW_GROUPS }, () => alert(uniqueName('Hot'), 'firing', T1));
    const events = await storeBatch(own.db, randomUUID(), batchOf(...alerts));
    expect(events.flatMap((event) => event.payload.changes).filter((change) => change.change === 'created')).toHaveLength(NEW_GROUPS);
    // The storing backend reports its statistics once idle (about a second later).
    const counts = await waitFor(
      async () => {
        const { rows } = await sql<{ inserted: number; updated: number; hot: number }>`
          select n_tup_ins::int as inserted, n_tup_upd::int as updated, n_tup_hot_upd::int as hot from pg_stat_user_tables where relname = 'alert_groups'`.execute(
          own.db,
        );
        return rows[0] && rows[0].updated >= NEW_GROUPS ? rows[0] : null;
      },
      10_000,
      'the statistics of the batch',
    );
    expect(counts).toEqual({ inserted: NEW_GROUPS, updated: NEW_GROUPS, hot: NEW_GROUPS });
  });
});
