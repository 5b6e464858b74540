/**
 * A wait profile of one application's PostgreSQL connections, sampled from pg_stat_activity
 * (no server setting changed): at each tick, what each of its connections is doing. Summed over
 * a run it shows where a serial writer spends its time: running a statement, waiting for its
 * client inside a transaction (JS work, a publish), or outside any transaction.
 */
import pg from 'pg';

export interface ActivityProfile {
  ticks: number;
  intervalMs: number;
  /** Ticks in which none of the application's connections was in a transaction. */
  noTransactionTicks: number;
  /** Per "state | wait | statement" key: connection-ticks. */
  samples: { key: string; ticks: number; share: number }[];
}

/** The statement's leading words, without literals, e.g. "insert into alert_groups". */
function statementKind(query: string): string {
  const words = query
    .replace(/\s+/g, ' ')
    .replace(/"/g, '')
    .trim()
    .toLowerCase()
    .match(/^(select|insert into|update|delete from|begin|commit|rollback|with)\b(.*)$/);
  if (!words) return query.slice(0, 40);
  const [, verb, rest = ''] = words;
  const table = /(?:from |into |update |^ )?\b(alert_\w+|silences|pg_\w+)\b/.exec(rest)?.[1] ?? '';
  if (verb === 'select' && /for update/.test(rest)) return `select ${table} for update`;
  if (verb === 'select' && /union all/.test(rest)) return `select ${table} (load instances)`;
  return `${verb} ${table}`.trim();
}

export function startActivityProfile(
  connectionString: string,
  database: string,
  applicationName: string,
  intervalMs = 5,
): { stop(): Promise<ActivityProfile> } {
  const client = new pg.Client({ connectionString, application_name: 'bench-profiler' });
  const counts = new Map<string, number>();
  let ticks = 0;
  let noTransactionTicks = 0;
  let stopped = false;
  const loop = (async () => {
    await client.connect();
    while (!stopped) {
      const started = Date.now();
      const { rows } = await client.query<{ state: string | null; wait: string | null; query: string }>(
        `select state, wait_event_type || ':' || wait_event as wait, query from pg_stat_activity where datname = $1 and application_name = $2`,
        [database, applicationName],
      );
      ticks++;
      let inTransaction = false;
      for (const row of rows) {
        if (row.state === 'idle') continue;
        inTransaction = true;
        const key = `${row.state} / ${row.wait ?? '-'} / ${statementKind(row.query)}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      if (!inTransaction) noTransactionTicks++;
      const rest = intervalMs - (Date.now() - started);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    }
    await client.end();
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      const samples = [...counts.entries()].map(([key, value]) => ({ key, ticks: value, share: ticks ? value / ticks : 0 })).sort((a, b) => b.ticks - a.ticks);
      return { ticks, intervalMs, noTransactionTicks, samples };
    },
  };
}
