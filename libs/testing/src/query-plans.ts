import { createPool, type Database } from '@sentryhub/db';
import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';

/**
 * The indexes PostgreSQL reads for the queries `run` sends through the Kysely it is given, each
 * planned with sequential scans priced out: an index that the query's conditions can use is then
 * always chosen, whatever the table holds, so a missing or unusable index shows as none.
 */
export async function indexesReadBy(url: string, run: (db: Kysely<Database>) => Promise<unknown>): Promise<string[]> {
  const queries: CompiledQuery[] = [];
  const pool = createPool(url, { maxConnections: 1 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: (event) => void queries.push(event.query) });
  try {
    await run(db);
    const client = await pool.connect();
    try {
      await client.query('set enable_seqscan = off');
      const names = new Set<string>();
      for (const query of queries) {
        const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`explain (format json) ${query.sql}`, [...query.parameters]);
        collectIndexNames(rows[0]?.['QUERY PLAN'], names);
      }
      return [...names].sort();
    } finally {
      client.release();
    }
  } finally {
    await db.destroy();
  }
}

function collectIndexNames(plan: unknown, names: Set<string>): void {
  if (Array.isArray(plan)) for (const part of plan) collectIndexNames(part, names);
  else if (typeof plan === 'object' && plan !== null)
    for (const [key, value] of Object.entries(plan)) {
      if (key === 'Index Name' && typeof value === 'string') names.add(value);
      else collectIndexNames(value, names);
    }
}
