import { randomUUID } from 'node:crypto';
import type { AlertChange, NormalizedAlert } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/alert-identity';
import { createDb } from '@sentryhub/db';
import { createTestDatabase, waitFor, type TestDatabase } from '@sentryhub/testing';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeBatch, type BatchAlert } from './batch-store';
import { OpenEpisodes, renewLeases } from './lease-renewal';

let test: TestDatabase;
let runs = 0;

beforeAll(async () => {
  test = await createTestDatabase('lease_renewal');
});
afterAll(async () => {
  await test?.destroy();
});

const STARTS = ['2026-11-26T10:00:00.000Z', '2026-11-26T11:00:00.000Z'] as const;
const LEASES = ['2031-01-01T00:00:00.000Z', '2031-01-01T00:01:00.000Z', '2031-01-01T00:02:00.000Z', null] as const;

interface Sent {
  alert: number;
  status: 'firing' | 'resolved';
  startsAt: (typeof STARTS)[number];
  lease: (typeof LEASES)[number];
}

function alertOf(world: string, sent: Sent): NormalizedAlert {
  const labels = { alertname: 'Renewed', instance: `host-${sent.alert}`, world };
  return {
    fingerprint: fingerprint(labels),
    status: sent.status,
    labels,
    annotations: { summary: 'summary' },
    startsAt: sent.startsAt,
    endsAt: sent.status === 'resolved' ? '2026-11-26T12:00:00.000Z' : null,
    generatorURL: null,
    extra: {},
    leaseEndsAt: sent.status === 'firing' ? sent.lease : null,
  };
}

const batchAt = (alerts: NormalizedAlert[], receivedAt: Date): BatchAlert[] =>
  alerts.map((alert) => ({ alert, source: 'api', receivedAt, correlationId: 'corr' }));

/** Every group of a world and its episodes, as they are stored (fingerprints left out: they differ by world). */
async function stateOf(world: string) {
  const { rows } = await sql<Record<string, unknown>>`
    select g.labels->>'instance' as alert, g.current_status, g.firing_count, g.first_occurrence, g.last_occurrence,
           i.status, i.starts_at, i.ends_at, i.resolution_type, i.lease_ends_at
    from alert_groups g join alert_instances i on i.group_id = g.id
    where g.labels->>'world' = ${world} order by 1, i.starts_at`.execute(test.db);
  return rows;
}

/** The changes of a world's events, without what differs by world (ids, fingerprints, labels). */
const comparable = (changes: AlertChange[]) =>
  changes.map((change) => ({
    change: change.change,
    alert: change.group.labels['instance'],
    status: change.instance.status,
    startsAt: change.instance.startsAt,
  }));

describe('lease renewals in one statement', () => {
  it('a re-sent batch of open episodes moves their leases and last occurrence, and publishes nothing', async () => {
    const open = new OpenEpisodes();
    const world = `w${++runs}`;
    const first = [0, 1, 2].map((n) => alertOf(world, { alert: n, status: 'firing', startsAt: STARTS[0], lease: LEASES[0] }));
    await storeBatch(test.db, randomUUID(), batchAt(first, new Date('2026-11-26T12:00:00Z')), undefined, open);
    expect(open.size).toBe(3);
    const outboxBefore = await test.db
      .selectFrom('alert_outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();

    const again = [0, 1, 2].map((n) => alertOf(world, { alert: n, status: 'firing', startsAt: STARTS[0], lease: LEASES[1] }));
    expect(await renewLeases(test.db, batchAt(again, new Date('2026-11-26T12:00:15Z')), open)).toEqual([]);

    const state = await stateOf(world);
    expect(state).toHaveLength(3);
    for (const row of state)
      expect(row).toMatchObject({ status: 'firing', lease_ends_at: new Date(LEASES[1]), last_occurrence: new Date('2026-11-26T12:00:15Z'), firing_count: 1 });
    const outboxAfter = await test.db
      .selectFrom('alert_outbox')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(outboxAfter.n).toBe(outboxBefore.n);
  });

  it('renews the episodes still open and leaves the alerts of one closed behind its back to the full way, forgetting it', async () => {
    const open = new OpenEpisodes();
    const world = `w${++runs}`;
    const sent = [0, 1].map((n) => alertOf(world, { alert: n, status: 'firing', startsAt: STARTS[0], lease: LEASES[0] }));
    await storeBatch(test.db, randomUUID(), batchAt(sent, new Date('2026-11-26T12:00:00Z')), undefined, open);
    // Another writer (lease expiry, an operator, another processor) closes one of them.
    await sql`update alert_instances set status = 'resolved', ends_at = now(), resolution_type = 'manual'
      where group_id = (select id from alert_groups where fingerprint = ${sent[1]?.fingerprint ?? ''})`.execute(test.db);
    const [, closedBefore] = await stateOf(world);

    const again = [0, 1].map((n) => alertOf(world, { alert: n, status: 'firing', startsAt: STARTS[0], lease: LEASES[2] }));
    const batch = batchAt(again, new Date('2026-11-26T12:00:15Z'));
    const rest = await renewLeases(test.db, batch, open);
    // The closed one's alert is left, as it was sent, for storeBatch; the open one is renewed.
    expect(rest).toEqual([batch[1]]);
    const [renewed, closed] = await stateOf(world);
    expect(renewed).toMatchObject({ status: 'firing', lease_ends_at: new Date(LEASES[2]), last_occurrence: new Date('2026-11-26T12:00:15Z') });
    expect(closed).toEqual(closedBefore);
    expect(open.isOpen(again[0]?.fingerprint ?? '', Date.parse(STARTS[0]))).toBe(true);
    expect(open.isOpen(again[1]?.fingerprint ?? '', Date.parse(STARTS[0]))).toBe(false);
  });

  it('leaves a batch with anything but renewals of known open episodes to the full way', async () => {
    const open = new OpenEpisodes();
    const world = `w${++runs}`;
    const known = alertOf(world, { alert: 0, status: 'firing', startsAt: STARTS[0], lease: LEASES[0] });
    await storeBatch(test.db, randomUUID(), batchAt([known], new Date('2026-11-26T12:00:00Z')), undefined, open);
    const before = await stateOf(world);
    const cases: NormalizedAlert[][] = [
      [known, alertOf(world, { alert: 1, status: 'firing', startsAt: STARTS[0], lease: LEASES[1] })], // a new group
      [alertOf(world, { alert: 0, status: 'firing', startsAt: STARTS[1], lease: LEASES[1] })], // a new episode
      [alertOf(world, { alert: 0, status: 'resolved', startsAt: STARTS[0], lease: null })], // a resolve
      [{ ...known, startsAt: null }], // no startsAt
      [],
    ];
    for (const alerts of cases) {
      const batch = batchAt(alerts, new Date('2026-11-26T12:00:15Z'));
      expect(await renewLeases(test.db, batch, open)).toBe(batch);
    }
    expect(await stateOf(world)).toEqual(before);
    expect(open.size).toBe(1);
  });

  it('is in the same state and makes the same events as the full way after every batch, whatever is sent and closed in between', async () => {
    const step = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.array(
          fc.record({
            alert: fc.integer({ min: 0, max: 2 }),
            // Mostly re-sends of one episode, as a Prometheus sends, with resolves and new episodes among them.
            status: fc.oneof({ weight: 8, arbitrary: fc.constant('firing' as const) }, { weight: 1, arbitrary: fc.constant('resolved' as const) }),
            startsAt: fc.oneof({ weight: 8, arbitrary: fc.constant(STARTS[0]) }, { weight: 1, arbitrary: fc.constant(STARTS[1]) }),
            lease: fc.constantFrom(...LEASES),
          }),
          { minLength: 1, maxLength: 3 },
        ),
      },
      { weight: 1, arbitrary: fc.record({ close: fc.integer({ min: 0, max: 2 }), expired: fc.boolean() }) },
    );
    let renewedBatches = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 10 }), async (steps) => {
        const run = ++runs;
        const full = `full${run}`;
        const renewing = `renewing${run}`;
        const open = new OpenEpisodes();
        let at = Date.parse('2026-11-26T12:00:00Z');
        for (const item of steps) {
          at += 15_000;
          if (!Array.isArray(item)) {
            // Another writer closes the alert's open episode in both worlds (expiry may be re-opened by a re-send).
            for (const world of [full, renewing]) {
              const fp = alertOf(world, { alert: item.close, status: 'firing', startsAt: STARTS[0], lease: null }).fingerprint;
              await sql`update alert_instances set status = 'resolved', ends_at = starts_at, resolution_type = ${item.expired ? 'expired' : 'manual'}
                where status = 'firing' and group_id = (select id from alert_groups where fingerprint = ${fp})`.execute(test.db);
            }
            continue;
          }
          const now = new Date(at);
          const fullEvents = await storeBatch(
            test.db,
            randomUUID(),
            batchAt(
              item.map((sent) => alertOf(full, sent)),
              now,
            ),
            now,
          );
          const alerts = batchAt(
            item.map((sent) => alertOf(renewing, sent)),
            now,
          );
          const rest = await renewLeases(test.db, alerts, open);
          if (rest.length < alerts.length) renewedBatches += 1;
          const renewingEvents = rest.length === 0 ? [] : await storeBatch(test.db, randomUUID(), rest, now, open);
          expect(comparable(renewingEvents.flatMap((event) => event.payload.changes))).toEqual(
            comparable(fullEvents.flatMap((event) => event.payload.changes)),
          );
          expect(await stateOf(renewing)).toEqual(await stateOf(full));
        }
      }),
      { numRuns: 50 },
    );
    // The one-statement way was taken often, not only the full way.
    expect(renewedBatches).toBeGreaterThan(10);
  });

  it('moves only unindexed columns: the lease check stays, so renewals are heap-only (HOT) updates of both rows', async () => {
    // No index of either table may cover a column a renewal writes: with one, PostgreSQL writes
    // every renewal as a new row version with an entry in every index of the table.
    const { rows: covering } = await sql<{ index: string; column: string }>`
      with renewed(tab, col) as (values ('alert_instances', 'lease_ends_at'), ('alert_groups', 'last_occurrence'), ('alert_groups', 'first_occurrence'))
      select i.indexrelid::regclass::text as index, r.col as column from renewed r
      join pg_index i on i.indrelid = r.tab::regclass
      join pg_attribute a on a.attrelid = i.indrelid and a.attname = r.col
      where a.attnum = any(i.indkey)
         or coalesce(pg_get_expr(i.indpred, i.indrelid), '') like '%' || r.col || '%'
         or coalesce(pg_get_expr(i.indexprs, i.indrelid), '') like '%' || r.col || '%'`.execute(test.db);
    expect(covering).toEqual([]);

    // One connection, so that its table statistics can be flushed and read back.
    const single = createDb(test.url, { maxConnections: 1 });
    const updates = async () => {
      await sql`select pg_stat_force_next_flush()`.execute(single);
      await sql`select pg_stat_clear_snapshot()`.execute(test.db);
      const { rows } = await sql<{ relname: string; upd: string; hot: string }>`
        select relname, n_tup_upd as upd, n_tup_hot_upd as hot from pg_stat_user_tables where relname in ('alert_groups', 'alert_instances')`.execute(test.db);
      return Object.fromEntries(rows.map((row) => [row.relname, { updates: Number(row.upd), hot: Number(row.hot) }]));
    };
    try {
      const open = new OpenEpisodes();
      const world = `w${++runs}`;
      const alerts = Array.from({ length: 20 }, (_, n) => n);
      await storeBatch(
        single,
        randomUUID(),
        batchAt(
          alerts.map((n) => alertOf(world, { alert: n, status: 'firing', startsAt: STARTS[0], lease: LEASES[0] })),
          new Date('2026-11-26T12:00:00Z'),
        ),
        undefined,
        open,
      );
      const checkAt = async () =>
        (
          await sql<{
            check: Date;
          }>`select distinct i.lease_check_at as check from alert_instances i join alert_groups g on g.id = i.group_id where g.labels->>'world' = ${world}`.execute(
            test.db,
          )
        ).rows;
      expect(await checkAt()).toEqual([{ check: new Date(LEASES[0]) }]);
      const before = await updates();

      for (const [round, lease] of [LEASES[1], LEASES[2], LEASES[2]].entries()) {
        const again = alerts.map((n) => alertOf(world, { alert: n, status: 'firing', startsAt: STARTS[0], lease }));
        expect(await renewLeases(single, batchAt(again, new Date(Date.parse('2026-11-26T12:00:00Z') + (round + 1) * 15_000)), open)).toEqual([]);
      }
      // The lease moved, its check did not: the expiry moves the check up when it comes due.
      expect(await checkAt()).toEqual([{ check: new Date(LEASES[0]) }]);
      const after = await waitFor(
        async () => {
          const now = await updates();
          return (now['alert_instances']?.updates ?? 0) - (before['alert_instances']?.updates ?? 0) >= 60 ? now : null;
        },
        15_000,
        'the renewals counted in the table statistics',
      );
      for (const table of ['alert_groups', 'alert_instances']) {
        const hot = (after[table]?.hot ?? 0) - (before[table]?.hot ?? 0);
        // Every one when the pages had room; none at all if a renewed column were indexed.
        expect(hot, `${table}: HOT updates of 60 renewals`).toBeGreaterThan(30);
      }
    } finally {
      await single.destroy();
    }
  });

  it('reads only the open episodes it renews, whatever the statistics say (taken before a storm of new episodes)', async () => {
    // A database of its own whose statistics never saw its open episodes (no ANALYZE, no
    // autovacuum): PostgreSQL then believes a handful are open. Planned from such statistics, a
    // renewal that filtered the updated table by status read every open episode per statement.
    const own = await createTestDatabase('lease_renewal_plan');
    const single = createDb(own.url, { maxConnections: 1 });
    try {
      await sql`alter table alert_instances set (autovacuum_enabled = false)`.execute(single);
      await sql`alter table alert_groups set (autovacuum_enabled = false)`.execute(single);
      const open = new OpenEpisodes();
      const sent = Array.from({ length: 2_000 }, (_, n) => alertOf('storm', { alert: n, status: 'firing', startsAt: STARTS[0], lease: LEASES[0] }));
      for (let first = 0; first < sent.length; first += 500)
        await storeBatch(single, randomUUID(), batchAt(sent.slice(first, first + 500), new Date('2026-11-26T12:00:00Z')), undefined, open);
      const openEpisodesRead = async () => {
        await sql`select pg_stat_force_next_flush()`.execute(single);
        await sql`select pg_stat_clear_snapshot()`.execute(own.db);
        const { rows } = await sql<{ read: string }>`
          select idx_tup_read as read from pg_stat_user_indexes where indexrelname = 'alert_instances_one_open_per_group'`.execute(own.db);
        return Number(rows[0]?.read);
      };
      /** Renews the 64 alerts from `first` on; the entries of the open-episode index it read. */
      const renewalReads = async (first: number): Promise<number> => {
        const before = await openEpisodesRead();
        const again = sent.slice(first, first + 64).map((alert) => ({ ...alert, leaseEndsAt: LEASES[1] }));
        expect(await renewLeases(single, batchAt(again, new Date('2026-11-26T12:00:15Z')), open)).toEqual([]);
        const after = await waitFor(
          async () => {
            const now = await openEpisodesRead();
            return now > before ? now : null;
          },
          15_000,
          'the renewal counted in the index statistics',
        );
        return after - before;
      };
      // One probe per renewed group: 64 entries of the index, not the 2,000 open episodes.
      expect(await renewalReads(0)).toBeLessThanOrEqual(2 * 64);
      // The statement is a prepared one (DATABASE_PREPARED_STATEMENTS): after a few executions
      // PostgreSQL may keep one generic plan for it, made without the values. Forced here, that
      // plan must probe the same way.
      await sql`set plan_cache_mode = force_generic_plan`.execute(single);
      expect(await renewalReads(64)).toBeLessThanOrEqual(2 * 64);
      const { rows } = await sql<{ leases: string }>`select count(*) as leases from alert_instances where lease_ends_at = ${LEASES[1]}::timestamptz`.execute(
        own.db,
      );
      expect(Number(rows[0]?.leases)).toBe(128);
    } finally {
      await single.destroy();
      await own.destroy();
    }
  });

  it('the database keeps the lease check at or before the lease end, whoever writes the lease (an older release too)', async () => {
    const world = `w${++runs}`;
    const sent = alertOf(world, { alert: 0, status: 'firing', startsAt: STARTS[0], lease: LEASES[1] });
    const { id: groupId } = await test.db
      .insertInto('alert_groups')
      .values({
        fingerprint: sent.fingerprint,
        name: 'Renewed',
        labels: JSON.stringify(sent.labels),
        severity: 'warning',
        source: 'api',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: STARTS[0],
        last_occurrence: STARTS[0],
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const checkOf = async () =>
      (await test.db.selectFrom('alert_instances').select(['lease_ends_at', 'lease_check_at']).where('group_id', '=', groupId).executeTakeFirstOrThrow())
        .lease_check_at;
    // Written as a release before the lease check writes it: no lease_check_at at all.
    await test.db
      .insertInto('alert_instances')
      .values({ group_id: groupId, status: 'firing', starts_at: STARTS[0], annotations: '{}', lease_ends_at: LEASES[1] })
      .execute();
    expect(await checkOf()).toEqual(new Date(LEASES[1]));
    const where = sql`group_id = ${groupId}`;
    // A later lease leaves the check where it is (a renewal); an earlier one brings it along.
    await sql`update alert_instances set lease_ends_at = ${LEASES[2]}::timestamptz where ${where}`.execute(test.db);
    expect(await checkOf()).toEqual(new Date(LEASES[1]));
    await sql`update alert_instances set lease_ends_at = ${LEASES[0]}::timestamptz where ${where}`.execute(test.db);
    expect(await checkOf()).toEqual(new Date(LEASES[0]));
    await sql`update alert_instances set lease_check_at = null where ${where}`.execute(test.db);
    expect(await checkOf()).toEqual(new Date(LEASES[0]));
    // A closed episode's lease is no longer checked.
    await sql`update alert_instances set status = 'resolved', ends_at = now(), resolution_type = 'manual', lease_check_at = null where ${where}`.execute(
      test.db,
    );
    expect(await checkOf()).toBeNull();
  });

  it('remembers at most its capacity; a group still looked up stays, the others go', () => {
    const open = new OpenEpisodes(4);
    open.remember('kept', 1);
    open.remember('passing', 2);
    const sizes: number[] = [];
    for (let n = 0; n < 20; n++) {
      open.remember(`other-${n}`, n);
      sizes.push(open.size);
      expect(open.isOpen('kept', 1)).toBe(true);
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    expect([open.isOpen('passing', 2), open.isOpen('other-0', 0), open.isOpen('other-19', 19), open.isOpen('kept', 2)]).toEqual([false, false, true, false]);
    open.forget('kept');
    expect(open.isOpen('kept', 1)).toBe(false);
  });
});
