/**
 * What `npm run bench` reads from the stack: the services' /metrics (counters, histograms, RSS
 * and CPU of a stack it did not start), and from PostgreSQL the rows it stored and how long
 * each alert took from receipt to commit and to Slack.
 */
import { performance } from 'node:perf_hooks';
import amqp from 'amqplib';
import pg from 'pg';
import { sleep } from './stack-bench-options';
import type { ScenarioResult } from './stack-bench-report';
import type { Service } from './stack-bench-services';
import { parseMetrics, processTicks, statusKiB, CLOCK_TICKS } from './system-stats';

export type LatencyMs = { alerts: number; p50: number; p99: number; max: number };

/** p50, p99 and max of the `ms` column of `rows` (a SELECT), or null when it has no row. */
export async function percentilesMs(databaseUrl: string, rows: string, params: unknown[]): Promise<LatencyMs | null> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: result } = await client.query<{ alerts: string; p50: number | null; p99: number | null; max: number | null }>(
      `select count(*) as alerts,
              percentile_cont(0.5) within group (order by ms) as p50,
              percentile_cont(0.99) within group (order by ms) as p99,
              max(ms)::float8 as max
         from (${rows}) as t`,
      params,
    );
    const row = result[0];
    if (!row || row.p50 === null || row.p99 === null || row.max === null) return null;
    return { alerts: Number(row.alerts), p50: row.p50, p99: row.p99, max: row.max };
  } finally {
    await client.end();
  }
}

/**
 * alert_instances.created_at (now() of the storing transaction) - alert_groups.last_occurrence
 * (the gateway's receivedAt) for the alerts whose alertname starts with `prefix`.
 */
export function receiptToStore(databaseUrl: string, prefix: string): Promise<LatencyMs | null> {
  return percentilesMs(
    databaseUrl,
    `select extract(epoch from (i.created_at - g.last_occurrence)) * 1000 as ms
       from alert_instances i join alert_groups g on g.id = i.group_id
      where g.name like $1`,
    [`${prefix}%`],
  );
}

/**
 * The pause before the bench asks the stack's database again: at least `minimumMs`, and ten times
 * what the last question took, so that its polling costs PostgreSQL at most about a tenth of a
 * core while the stack works (counting a storm's notifications joins tables of 100,000s of rows:
 * asked every 500 ms, it took 0.3-0.7 s each time, most of a core taken from the notifier).
 */
export const pollPauseMs = (minimumMs: number, lastQueryMs: number): number => Math.max(minimumMs, 10 * lastQueryMs);

export const SENT_FIRING = `from notifications n join alert_groups g on g.id = n.group_id
      where g.name like $1 and n.kind = 'firing' and n.status = 'sent'`;

/**
 * notifications.sent_at (Slack's `ok`; for a digest, that of the one message folding them) -
 * alert_groups.last_occurrence (the gateway's receivedAt), over the firing notifications of the
 * alerts whose alertname starts with `prefix`, once `expected` of them were sent (or after
 * `timeoutMs`: then `sent` says how many were).
 */
export async function receiptToSlack(
  databaseUrl: string,
  prefix: string,
  expected: number,
  timeoutMs: number,
): Promise<LatencyMs & { sent: number; expected: number }> {
  const deadline = performance.now() + timeoutMs;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let sent = 0;
  try {
    for (;;) {
      const asked = performance.now();
      sent = Number((await client.query<{ n: string }>(`select count(*) as n ${SENT_FIRING}`, [`${prefix}%`])).rows[0]?.n ?? 0);
      if (sent >= expected || performance.now() > deadline) break;
      await sleep(pollPauseMs(500, performance.now() - asked));
    }
  } finally {
    await client.end();
  }
  const latency = await percentilesMs(databaseUrl, `select extract(epoch from (n.sent_at - g.last_occurrence)) * 1000 as ms ${SENT_FIRING}`, [`${prefix}%`]);
  // None sent within the wait: said as such, not left looking like a scenario not measured.
  return latency ? { ...latency, sent, expected } : { alerts: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN, sent, expected };
}
/**
 * Waits until `queue` on the broker at `url` has no message ready (or `timeoutMs` passed) and
 * returns how many were left: before a scenario that measures receipt -> Slack, so that the
 * notifier's backlog from the scenarios before it is not counted in that scenario's latency.
 */
export async function waitQueueEmpty(url: string, queue: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    for (;;) {
      const { messageCount } = await channel.checkQueue(queue);
      if (messageCount === 0 || performance.now() > deadline) return messageCount;
      await sleep(250);
    }
  } finally {
    await connection.close();
  }
}

/**
 * Waits until the database at `databaseUrl` holds no notification still to be sent (or
 * `timeoutMs` passed) and returns how many were left: the notifier folds what it took from its
 * queue into digests at the per-channel pace, so an empty queue does not yet mean its work is done.
 */
export async function waitNotificationsSent(databaseUrl: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (;;) {
      const asked = performance.now();
      const { rows } = await client.query<{ pending: number }>(`select count(*)::int as pending from notifications where status = 'pending'`);
      const pending = rows[0]?.pending ?? 0;
      if (pending === 0 || performance.now() > deadline) return pending;
      await sleep(pollPauseMs(250, performance.now() - asked));
    }
  } finally {
    await client.end();
  }
}

export interface Counters {
  accepted: number;
  publishes: number;
  processed: number;
  /** The gateway's publish -> confirm histogram (seconds) and in-flight-at-start histogram. */
  confirmSeconds: { sum: number; count: number; buckets: Map<string, number> };
  inFlight: { sum: number; count: number };
}

export function histogram(samples: Map<string, { labels: string; value: number }[]>, name: string): Counters['confirmSeconds'] {
  const buckets = new Map<string, number>();
  // Summed per bound: with more than one gateway the samples of all of them are in `samples`.
  for (const sample of samples.get(`${name}_bucket`) ?? []) {
    const le = /le="([^"]+)"/.exec(sample.labels)?.[1] ?? '';
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  return { sum: total(samples, `${name}_sum`), count: total(samples, `${name}_count`), buckets };
}

/** The upper bound of the histogram bucket holding quantile q of the observations between two scrapes. */
export function bucketQuantile(before: Counters['confirmSeconds'], after: Counters['confirmSeconds'], q: number): number | null {
  const count = after.count - before.count;
  if (count <= 0) return null;
  for (const [le, cumulative] of after.buckets)
    if (cumulative - (before.buckets.get(le) ?? 0) >= q * count) return le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
  return null;
}

/**
 * A service's /metrics. A scrape that fails is tried again (a saturated service may answer
 * late) and then throws: read as an empty page it would turn every counter into 0, and a
 * scenario would seem to have accepted nothing.
 */
export async function scrape(url: string): Promise<Map<string, { labels: string; value: number }[]>> {
  let failure = '';
  for (let attempt = 1; attempt <= 4; attempt++) {
    try {
      const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(15_000) });
      if (response.ok) return parseMetrics(await response.text());
      failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    await sleep(250 * attempt);
  }
  throw new Error(`${url}/metrics did not answer after 4 attempts: ${failure}`);
}

export const total = (samples: Map<string, { labels: string; value: number }[]>, name: string, labels = '') =>
  (samples.get(name) ?? []).filter((sample) => sample.labels.includes(labels)).reduce((sum, sample) => sum + sample.value, 0);

/** The samples of several services in one map (a name's samples of all of them, to be summed). */
export async function scrapeAll(services: Service[]): Promise<Map<string, { labels: string; value: number }[]>> {
  const merged = new Map<string, { labels: string; value: number }[]>();
  for (const samples of await Promise.all(services.map((service) => scrape(service.url)))) {
    for (const [name, list] of samples) merged.set(name, [...(merged.get(name) ?? []), ...list]);
  }
  return merged;
}

/**
 * RSS in MiB: from /proc for a process of this bench, from prom-client's process metrics for a
 * running stack's (from `samples` when its /metrics was just scraped).
 */
export async function rssMiB(service: Service, samples?: Map<string, { labels: string; value: number }[]>): Promise<number> {
  if (service.pid !== undefined) return (statusKiB(service.pid, 'VmRSS') ?? 0) / 1024;
  return total(samples ?? (await scrape(service.url)), 'process_resident_memory_bytes') / 2 ** 20;
}

/** CPU seconds so far, the same two ways. */
export async function cpuSecondsOf(service: Service): Promise<number> {
  if (service.pid !== undefined) return (processTicks(service.pid) ?? 0) / CLOCK_TICKS;
  return total(await scrape(service.url), 'process_cpu_seconds_total');
}

/** Summed over every gateway and every processor. */
export async function counters(gateways: Service[], processors: Service[]): Promise<Counters> {
  const [g, p] = await Promise.all([scrapeAll(gateways), scrapeAll(processors)]);
  return {
    accepted: total(g, 'sentryhub_gateway_alerts_accepted_total'),
    publishes: total(g, 'sentryhub_messages_published_total', 'outcome="confirmed"'),
    processed: total(p, 'sentryhub_processor_alerts_total'),
    confirmSeconds: histogram(g, 'sentryhub_gateway_publish_seconds'),
    inFlight: { sum: total(g, 'sentryhub_gateway_publishes_in_flight_sum'), count: total(g, 'sentryhub_gateway_publishes_in_flight_count') },
  };
}

/** The scenario's CPU figures, with what the machine spent on anything else. */
export function cpuFigures(cpu: {
  postgres: number;
  rabbitmq: number;
  benchClient: number;
  machineBusyShare: number;
  busySeconds: number;
  services: number;
}): ScenarioResult['cpuSeconds'] {
  const ours = cpu.services + cpu.postgres + cpu.rabbitmq + cpu.benchClient;
  return {
    postgres: cpu.postgres,
    rabbitmq: cpu.rabbitmq,
    benchClient: cpu.benchClient,
    machineBusyShare: cpu.machineBusyShare,
    others: Math.max(0, cpu.busySeconds - ours),
  };
}

export function confirmFigures(before: Counters, after: Counters): ScenarioResult['gatewayConfirm'] {
  const count = after.confirmSeconds.count - before.confirmSeconds.count;
  if (count <= 0) return null;
  const ms = (value: number | null) => (value === null ? null : value * 1000);
  return {
    meanMs: ((after.confirmSeconds.sum - before.confirmSeconds.sum) / count) * 1000,
    p50AtMostMs: ms(bucketQuantile(before.confirmSeconds, after.confirmSeconds, 0.5)),
    p99AtMostMs: ms(bucketQuantile(before.confirmSeconds, after.confirmSeconds, 0.99)),
    meanInFlight: (after.inFlight.sum - before.inFlight.sum) / Math.max(1, after.inFlight.count - before.inFlight.count),
  };
}
/**
 * The rows stored for the alerts whose alertname starts with `prefix`: groups, episodes
 * (alert_instances), and groups that do not hold exactly one episode. With new fingerprints,
 * "every accepted alert stored once" is groups = episodes = accepted alerts and none of the third.
 */
export async function storedRows(databaseUrl: string, prefix: string): Promise<{ groups: number; instances: number; groupsNotOnce: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ groups: string; instances: string; not_once: string }>(
      `select count(*) as groups, coalesce(sum(n), 0) as instances, count(*) filter (where n <> 1) as not_once
         from (select g.id, count(i.id) as n from alert_groups g left join alert_instances i on i.group_id = g.id where g.name like $1 group by g.id) as t`,
      [`${prefix}%`],
    );
    const row = rows[0];
    return { groups: Number(row?.groups ?? 0), instances: Number(row?.instances ?? 0), groupsNotOnce: Number(row?.not_once ?? 0) };
  } finally {
    await client.end();
  }
}
