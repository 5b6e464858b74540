/**
 * `npm run bench:renewals`: what PostgreSQL spends on lease renewals, the statement a processor
 * runs for each request of re-sent alerts (`renewLeases`), with nothing else running through the
 * database. It stores N open episodes the full way, then renews all of them, 64 a statement (a
 * Prometheus request), for a number of cycles, and reports PostgreSQL's CPU per 1,000 renewals
 * (utime + stime from /proc of its server processes and the bench database's backends), the CPU of
 * this process (which calls `renewLeases` as a processor does) per 1,000 renewals, and how many row updates of each table
 * were heap-only (HOT). `--schema indexed` first puts back what the current schema leaves out for
 * renewals (an index on `alert_groups.last_occurrence` and on the open episodes' `lease_ends_at`,
 * `alert_instances` at fillfactor 100), to compare both in one session.
 *
 *   npm run bench:renewals -- [--alerts 10000] [--cycles 6] [--schema current|indexed]
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fingerprint } from '@sentryhub/alert-identity';
import { OpenEpisodes, renewLeases, storeBatch, type BatchAlert } from '@sentryhub/alert-state';
import type { NormalizedAlert } from '@sentryhub/contracts';
import { createTestDatabase } from '@sentryhub/testing';
import { sql } from 'kysely';
import { cpuSecondsBetween, isPostgresFor, ticksWhere } from './system-stats';

const PER_STATEMENT = 64;
const STATS_FLUSH_MS = 11_000;

const { values } = parseArgs({
  options: { alerts: { type: 'string', default: '10000' }, cycles: { type: 'string', default: '6' }, schema: { type: 'string', default: 'current' } },
});
const alerts = Number(values.alerts);
const cycles = Number(values.cycles);
const schema = values.schema;
if (!(alerts > 0) || !(cycles > 0) || (schema !== 'current' && schema !== 'indexed')) {
  console.error('usage: npm run bench:renewals -- [--alerts N] [--cycles N] [--schema current|indexed]');
  process.exit(2);
}

const T0 = Date.parse('2026-11-26T12:00:00Z');
const INTERVAL_MS = 15_000;

function alertOf(n: number, lease: number): NormalizedAlert {
  const labels = { alertname: `Renewed${Math.floor(n / 100)}`, instance: `host-${n % 100}`, job: 'bench', severity: 'warning', team: 'bench' };
  return {
    fingerprint: fingerprint(labels),
    status: 'firing',
    labels,
    annotations: { summary: `Re-sent alert ${n}` },
    startsAt: '2026-11-26T11:00:00.000Z',
    endsAt: null,
    generatorURL: 'http://prometheus.bench:9090/graph?g0.expr=up',
    extra: {},
    leaseEndsAt: new Date(lease).toISOString(),
  };
}

/** Request `first` of a cycle: alerts first ... first + 63, received at the cycle's time, each lease 4 intervals later. */
function request(first: number, cycle: number): BatchAlert[] {
  const receivedAt = new Date(T0 + cycle * INTERVAL_MS);
  const batch: BatchAlert[] = [];
  for (let n = first; n < Math.min(alerts, first + PER_STATEMENT); n++)
    batch.push({ alert: alertOf(n, receivedAt.getTime() + 4 * INTERVAL_MS), source: 'api', receivedAt, correlationId: `renewal-bench-${cycle}` });
  return batch;
}

const database = await createTestDatabase('renewalbench');
try {
  const db = database.db;
  if (schema === 'indexed') {
    await sql`create index on alert_groups (last_occurrence)`.execute(db);
    await sql`create index on alert_instances (lease_ends_at) where status = 'firing' and lease_ends_at is not null`.execute(db);
    await sql`alter table alert_instances reset (fillfactor)`.execute(db);
  }
  const open = new OpenEpisodes();
  for (let first = 0; first < alerts; first += PER_STATEMENT) await storeBatch(db, randomUUID(), request(first, 0), new Date(T0), open);
  const tables = async () =>
    (
      await sql<{ relname: string; n_tup_upd: string; n_tup_hot_upd: string }>`
        select relname, n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where relname in ('alert_groups', 'alert_instances') order by relname`.execute(db)
    ).rows.map((row) => ({ table: row.relname, updates: Number(row.n_tup_upd), hot: Number(row.n_tup_hot_upd) }));
  // The statistics of the stores reach the views within PostgreSQL's flush interval.
  await new Promise((resolve) => setTimeout(resolve, STATS_FLUSH_MS));
  const before = await tables();

  // PostgreSQL's server processes and this database's backends.
  const postgres = isPostgresFor(new URL(database.url).pathname.slice(1));
  const cpuBefore = ticksWhere(postgres);
  // This process does what a processor does per request: build the statement, send it, read the answer.
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  let statements = 0;
  for (let cycle = 1; cycle <= cycles; cycle++) {
    for (let first = 0; first < alerts; first += PER_STATEMENT) {
      if ((await renewLeases(db, request(first, cycle), open)).length > 0)
        throw new Error(`cycle ${cycle}: a renewal went the full way; the figures would not be renewals`);
      statements++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSecondsBetween(cpuBefore, ticksWhere(postgres));
  const clientUsage = process.cpuUsage(clientBefore);
  const client = (clientUsage.user + clientUsage.system) / 1e6;
  await new Promise((resolve) => setTimeout(resolve, STATS_FLUSH_MS));
  const after = await tables();

  const renewals = alerts * cycles;
  console.log(
    `schema ${schema}: ${renewals.toLocaleString('en-US')} renewals of ${alerts.toLocaleString('en-US')} open episodes in ${statements} statements of ${PER_STATEMENT}, ${seconds.toFixed(1)} s`,
  );
  console.log(`PostgreSQL CPU: ${((cpu / renewals) * 1000).toFixed(3)} s per 1,000 renewals (${cpu.toFixed(2)} s)`);
  console.log(
    `client CPU (renewLeases in this process, as in a processor): ${((client / renewals) * 1000).toFixed(3)} s per 1,000 renewals (${client.toFixed(2)} s)`,
  );
  for (const row of after) {
    const was = before.find((entry) => entry.table === row.table);
    const updates = row.updates - (was?.updates ?? 0);
    const hot = row.hot - (was?.hot ?? 0);
    console.log(`${row.table}: ${updates.toLocaleString('en-US')} row updates, ${hot.toLocaleString('en-US')} heap-only (HOT)`);
  }
} finally {
  await database.destroy();
}
