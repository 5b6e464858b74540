import { randomUUID } from 'node:crypto';
import { AlertProcessed, type NormalizedAlert } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/alert-identity';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeBatch } from './batch-store';
import { resolveGroupManually, type ManualResolve } from './manual-resolve';

let test: TestDatabase;
let names = 0;
const RECEIVED = new Date('2026-11-26T12:00:00.000Z');
const T1 = '2026-11-26T10:00:00.000Z';
const NOW = new Date('2026-11-26T12:30:00.000Z');

function firing(name: string): NormalizedAlert {
  const labels = { alertname: name, severity: 'critical', instance: 'host-1' };
  return {
    fingerprint: fingerprint(labels),
    status: 'firing',
    labels,
    annotations: { summary: 'disk' },
    startsAt: T1,
    endsAt: null,
    generatorURL: null,
    extra: {},
  };
}

/** A group with one open episode (stored through a batch, as the processor stores it); its id. */
async function openGroup(): Promise<{ id: number; fingerprint: string }> {
  const alert = firing(`Manual-${++names}`);
  await storeBatch(test.db, randomUUID(), [{ alert, source: 'webhook', receivedAt: RECEIVED, correlationId: 'intake' }], RECEIVED);
  const row = await test.db.selectFrom('alert_groups').select(['id', 'fingerprint']).where('fingerprint', '=', alert.fingerprint).executeTakeFirstOrThrow();
  return row;
}

const resolve = (input: Partial<ManualResolve> & { groupId: number }) =>
  test.db.transaction().execute((trx) => resolveGroupManually(trx, { at: NOW, correlationId: 'req-1', silences: [], now: NOW, ...input }));

beforeAll(async () => {
  test = await createTestDatabase('manual_resolve');
});
afterAll(async () => {
  await test?.destroy();
});

describe('resolveGroupManually on a real PostgreSQL', () => {
  it('closes the open episode at the time given (manual), resolves the group, and puts one resolved event in the outbox', async () => {
    const { id, fingerprint: fp } = await openGroup();
    const at = new Date('2026-11-26T11:15:00.000Z');
    const outcome = await resolve({ groupId: id, at });
    if (outcome.status !== 'resolved') throw new Error(outcome.error);
    expect(outcome.group).toMatchObject({ id, current_status: 'resolved', firing_count: 1 });

    const instances = await test.db.selectFrom('alert_instances').select(['id', 'status', 'ends_at', 'resolution_type']).where('group_id', '=', id).execute();
    expect(instances).toEqual([{ id: outcome.closed[0], status: 'resolved', ends_at: at, resolution_type: 'manual' }]);
    const group = await test.db.selectFrom('alert_groups').select(['current_status', 'firing_count']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(group).toEqual({ current_status: 'resolved', firing_count: 1 });

    const [row] = await test.db
      .selectFrom('alert_outbox')
      .selectAll()
      .where('message_id', '=', outcome.events[0]?.messageId ?? '')
      .execute();
    expect(row).toMatchObject({ routing_key: 'alert.processed.resolved', correlation_id: 'req-1' });
    const payload = AlertProcessed.parse(typeof row?.payload === 'string' ? JSON.parse(row.payload) : row?.payload);
    expect(payload.status).toBe('resolved');
    expect(payload.changes).toEqual([
      expect.objectContaining({
        change: 'resolved',
        correlationId: 'req-1',
        group: expect.objectContaining({ id, fingerprint: fp, severity: 'critical', status: 'resolved', firingCount: 1, silenced: false, acknowledged: false }),
        instance: expect.objectContaining({ id: outcome.closed[0], status: 'resolved', startsAt: T1, endsAt: at.toISOString(), resolutionType: 'manual' }),
      }),
    ]);
  });

  it('refuses, writing nothing, a group that does not exist, one with nothing open, and a time before the episode started', async () => {
    expect(await resolve({ groupId: 987_654_321 })).toEqual({ status: 'not-found', error: 'alert group 987654321 not found' });

    const { id } = await openGroup();
    const before = await resolve({ groupId: id, at: new Date('2026-11-26T09:00:00.000Z') });
    expect(before).toMatchObject({ status: 'before-start', error: expect.stringMatching(/before the episode started \(2026-11-26T10:00:00.000Z\)/) });
    const still = await test.db.selectFrom('alert_instances').select(['status', 'resolution_type']).where('group_id', '=', id).execute();
    expect(still).toEqual([{ status: 'firing', resolution_type: null }]);

    expect((await resolve({ groupId: id })).status).toBe('resolved');
    const outbox = await test.db
      .selectFrom('alert_outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(await resolve({ groupId: id })).toEqual({ status: 'nothing-open', error: 'nothing to resolve: the group has no open episode' });
    const after = await test.db
      .selectFrom('alert_outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(outbox.n);
  });
});
