import type { AlertReceived, NormalizedAlert } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/rules';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyAlertReceived } from './alert-state';

let test: TestDatabase;
let counter = 0;

function alertFor(name: string, status: 'firing' | 'resolved', startsAt: string | null, endsAt: string | null = null): NormalizedAlert {
  const labels = { alertname: name, severity: 'critical', instance: 'host-1' };
  return { fingerprint: fingerprint(labels), status, labels, annotations: { summary: `${name} summary` }, startsAt, endsAt, generatorURL: null, extra: {} };
}

function received(...alerts: NormalizedAlert[]): AlertReceived {
  counter += 1;
  return { id: `msg-${counter}`, receivedAt: '2026-11-26T12:00:00.000Z', source: 'webhook', meta: {}, alerts };
}

async function instancesOf(name: string) {
  return test.db
    .selectFrom('alert_instances')
    .innerJoin('alert_groups', 'alert_groups.id', 'alert_instances.group_id')
    .select(['alert_instances.status', 'alert_instances.starts_at', 'alert_instances.ends_at', 'alert_instances.resolution_type'])
    .where('alert_groups.name', '=', name)
    .orderBy('alert_instances.starts_at')
    .execute();
}

async function groupOf(name: string) {
  return test.db.selectFrom('alert_groups').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
}

const T1 = '2026-11-26T10:00:00.000Z';
const T2 = '2026-11-26T11:00:00.000Z';
const T3 = '2026-11-26T11:30:00.000Z';

beforeAll(async () => {
  test = await createTestDatabase('alert_state');
});
afterAll(async () => {
  await test?.destroy();
});

describe('alert state machine (SPEC section 5) on a real PostgreSQL', () => {
  it('creates a group and a firing instance, and treats the same firing again as a duplicate', async () => {
    const first = await applyAlertReceived(test.db, received(alertFor('A', 'firing', T1)));
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ change: 'created', group: { name: 'A', severity: 'critical', status: 'firing', firingCount: 1, silenced: false }, instance: { status: 'firing', startsAt: T1 } });
    expect(await applyAlertReceived(test.db, received(alertFor('A', 'firing', T1)))).toEqual([]);
    expect(await instancesOf('A')).toHaveLength(1);
  });

  it('resolves the episode with the same startsAt as normal, once', async () => {
    const changes = await applyAlertReceived(test.db, received(alertFor('A', 'resolved', T1, T2)));
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ change: 'resolved', group: { status: 'resolved' }, instance: { status: 'resolved', endsAt: T2, resolutionType: 'normal' } });
    expect(await applyAlertReceived(test.db, received(alertFor('A', 'resolved', T1, T2)))).toEqual([]);
    // An old firing arriving after its resolved never re-opens the episode.
    expect(await applyAlertReceived(test.db, received(alertFor('A', 'firing', T1)))).toEqual([]);
    expect((await groupOf('A')).current_status).toBe('resolved');
  });

  it('counts a new episode, clears the acknowledgement, and closes an open one with another startsAt as inferred', async () => {
    await test.db.updateTable('alert_groups').set({ acknowledged: true, acknowledged_by: 'alice', acknowledged_at: new Date() }).where('name', '=', 'A').execute();
    const refired = await applyAlertReceived(test.db, received(alertFor('A', 'firing', T2)));
    expect(refired[0]).toMatchObject({ change: 'refired', group: { firingCount: 2, acknowledged: false } });
    const next = await applyAlertReceived(test.db, received(alertFor('A', 'firing', T3)));
    expect(next[0]).toMatchObject({ change: 'refired', group: { firingCount: 2 } });
    const rows = await instancesOf('A');
    expect(rows.map((r) => [r.status, r.resolution_type])).toEqual([
      ['resolved', 'normal'],
      ['resolved', 'inferred'],
      ['firing', null],
    ]);
    expect((await groupOf('A')).acknowledged).toBe(false);
  });

  it('ignores a firing older than the latest episode', async () => {
    expect(await applyAlertReceived(test.db, received(alertFor('A', 'firing', '2026-11-26T10:30:00.000Z')))).toEqual([]);
  });

  it('closes the latest open episode as inferred when the resolved startsAt is unknown', async () => {
    const changes = await applyAlertReceived(test.db, received(alertFor('A', 'resolved', '2026-11-26T11:45:00.000Z', '2026-11-26T11:50:00.000Z')));
    expect(changes[0]).toMatchObject({ change: 'resolved', instance: { startsAt: T3, resolutionType: 'inferred' } });
  });

  it('records a resolved that arrives before its firing, and the late firing does not re-open it', async () => {
    const changes = await applyAlertReceived(test.db, received(alertFor('B', 'resolved', T1, T2)));
    expect(changes[0]).toMatchObject({ change: 'resolved', instance: { status: 'resolved', startsAt: T1, endsAt: T2, resolutionType: 'normal' } });
    expect(await applyAlertReceived(test.db, received(alertFor('B', 'firing', T1)))).toEqual([]);
    expect(await instancesOf('B')).toHaveLength(1);
    expect((await groupOf('B')).firing_count).toBe(0);
  });

  it('treats a repeated firing without startsAt as the same open episode', async () => {
    const first = await applyAlertReceived(test.db, received(alertFor('C', 'firing', null)));
    expect(first[0]?.instance.startsAt).toBe('2026-11-26T12:00:00.000Z');
    expect(await applyAlertReceived(test.db, received(alertFor('C', 'firing', null)))).toEqual([]);
  });

  it('snapshots the silence state at processing time; an expired silence does not count', async () => {
    const now = new Date();
    await test.db
      .insertInto('silences')
      .values([
        { matchers: JSON.stringify([{ name: 'alertname', value: 'D', isEqual: true, isRegex: false }]), starts_at: new Date(now.getTime() - 60_000), ends_at: new Date(now.getTime() + 3_600_000), created_by: 'bob', comment: 'maintenance', updated_at: now },
        { matchers: JSON.stringify([{ name: 'alertname', value: 'E', isEqual: true, isRegex: false }]), starts_at: new Date(now.getTime() - 7_200_000), ends_at: new Date(now.getTime() - 3_600_000), created_by: 'bob', comment: 'over', updated_at: now },
      ])
      .execute();
    const [silenced] = await applyAlertReceived(test.db, received(alertFor('D', 'firing', T1)));
    expect(silenced?.group.silenced).toBe(true);
    expect(silenced?.group.silencedUntil).toBe(new Date(now.getTime() + 3_600_000).toISOString());
    const [notSilenced] = await applyAlertReceived(test.db, received(alertFor('E', 'firing', T1)));
    expect(notSilenced?.group.silenced).toBe(false);
  });

  it('never duplicates rows when the same message is processed concurrently', async () => {
    const message = received(alertFor('F', 'firing', T1), alertFor('G', 'firing', T1));
    const results = await Promise.allSettled([applyAlertReceived(test.db, message), applyAlertReceived(test.db, message), applyAlertReceived(test.db, message)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    const changes = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    expect(changes).toHaveLength(2);
    expect(await instancesOf('F')).toHaveLength(1);
    expect(await instancesOf('G')).toHaveLength(1);
  });
});
