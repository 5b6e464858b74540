import { randomUUID } from 'node:crypto';
import type { NormalizedAlert } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/alert-identity';
import { OpenEpisodes, renewLeases, storeBatch, type BatchAlert } from '@sentryhub/alert-state';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireLeases } from './lease-expiry';

let test: TestDatabase;

beforeAll(async () => {
  test = await createTestDatabase('lease_check');
});
afterAll(async () => {
  await test?.destroy();
});

const STARTS_AT = '2026-11-26T11:00:00.000Z';
const at = (time: string) => new Date(`2026-11-26T${time}Z`);

function alertOf(instance: string, lease: Date | null): NormalizedAlert {
  const labels = { alertname: 'LeaseCheck', instance };
  return {
    fingerprint: fingerprint(labels),
    status: 'firing',
    labels,
    annotations: {},
    startsAt: STARTS_AT,
    endsAt: null,
    generatorURL: null,
    extra: {},
    leaseEndsAt: lease?.toISOString() ?? null,
  };
}

const batchOf = (alerts: NormalizedAlert[], receivedAt: Date): BatchAlert[] =>
  alerts.map((alert) => ({ alert, source: 'api', receivedAt, correlationId: 'corr' }));

async function episodes() {
  const { rows } = await sql<{
    instance: string;
    status: string;
    ends_at: Date | null;
    resolution_type: string | null;
    lease_ends_at: Date | null;
    lease_check_at: Date | null;
  }>`
    select g.labels->>'instance' as instance, i.status, i.ends_at, i.resolution_type, i.lease_ends_at, i.lease_check_at
    from alert_instances i join alert_groups g on g.id = i.group_id order by 1`.execute(test.db);
  return Object.fromEntries(rows.map(({ instance, ...row }) => [instance, row]));
}

describe('lease expiry by the lease check (renewals move only the lease end)', () => {
  it('moves the check of a renewed lease up to its end, clears a lease that is gone, and expires each episode once at its real end', async () => {
    const open = new OpenEpisodes();
    await storeBatch(
      test.db,
      randomUUID(),
      batchOf(
        ['renewed', 'unleased', 'lapsed'].map((name) => alertOf(name, at('12:01:00'))),
        at('12:00:00'),
      ),
      at('12:00:00'),
      open,
    );
    expect(await episodes()).toMatchObject({
      renewed: { status: 'firing', lease_ends_at: at('12:01:00'), lease_check_at: at('12:01:00') },
      lapsed: { status: 'firing', lease_ends_at: at('12:01:00'), lease_check_at: at('12:01:00') },
    });
    // Re-sent: one with a later lease, one with none (it never expires now); the third is not.
    const again = [alertOf('renewed', at('12:02:00')), alertOf('unleased', null)];
    expect(await renewLeases(test.db, batchOf(again, at('12:00:15')), open)).toEqual([]);
    expect(await episodes()).toMatchObject({
      renewed: { lease_ends_at: at('12:02:00'), lease_check_at: at('12:01:00') },
      unleased: { lease_ends_at: null, lease_check_at: at('12:01:00') },
    });

    // Before any check is due: nothing read but the index.
    expect(await expireLeases(test.db, at('12:00:59'))).toEqual({ events: [], candidates: 0, expired: 0, rearmed: 0 });

    const first = await expireLeases(test.db, at('12:01:30'));
    expect(first).toMatchObject({ expired: 1, rearmed: 2 });
    expect(first.events.flatMap((event) => event.payload.changes.map((change) => change.group.labels['instance']))).toEqual(['lapsed']);
    expect(await episodes()).toMatchObject({
      renewed: { status: 'firing', lease_ends_at: at('12:02:00'), lease_check_at: at('12:02:00') },
      unleased: { status: 'firing', lease_ends_at: null, lease_check_at: null },
      lapsed: { status: 'resolved', ends_at: at('12:01:00'), resolution_type: 'expired', lease_check_at: at('12:01:00') },
    });
    // Again at the same time: nothing left to do.
    expect(await expireLeases(test.db, at('12:01:30'))).toEqual({ events: [], candidates: 0, expired: 0, rearmed: 0 });

    const second = await expireLeases(test.db, at('12:02:30'));
    expect(second).toMatchObject({ expired: 1, rearmed: 0 });
    expect(await episodes()).toMatchObject({
      renewed: { status: 'resolved', ends_at: at('12:02:00'), resolution_type: 'expired' },
      unleased: { status: 'firing', lease_ends_at: null },
    });
    expect(await expireLeases(test.db, at('13:00:00'))).toEqual({ events: [], candidates: 0, expired: 0, rearmed: 0 });
  });
});
