import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from './create-db';
import { isDatabaseUnavailable } from './errors';

const SERVER_URL = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The server's admin connection runs one statement (libs/testing depends on this lib, not the other way). */
async function onServer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

describe('createDb against a throwaway database', () => {
  // A throwaway, empty database: the test needs connections, not tables.
  const name = `sentryhub_create_db_${randomBytes(4).toString('hex')}`;
  const database = { url: Object.assign(new URL(SERVER_URL), { pathname: `/${name}` }).toString() };
  beforeAll(() => onServer(`create database "${name}"`));
  afterAll(() => onServer(`drop database if exists "${name}" with (force)`));

  it('a connection that dies while checked out fails the transaction as "database unavailable" without killing the process, and the pool recovers', async () => {
    const db = createDb(database.url, { maxConnections: 1 });
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const processErrors: unknown[] = [];
    const onUncaught = (error: unknown) => processErrors.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const failure = await db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // What a PostgreSQL restart does to every connection, while this one is checked out
          // and idle between two statements.
          await admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await sql`select 1`.execute(trx);
        })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(failure)).toBe(true);
      // The broken client was dropped: the next statement gets a fresh connection.
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
      expect(rows).toEqual([{ one: 1 }]);
      expect(processErrors).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await admin.end();
      await db.destroy();
    }
  });

  it('reads a timestamptz back as the instant stored, whatever time zone the session writes it in', async () => {
    const db = createDb(database.url, { maxConnections: 1 });
    try {
      const instants = ['2026-12-06T18:12:28.123Z', '2026-12-06T18:12:28.000Z', '0050-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z'];
      for (const zone of ['UTC', 'Asia/Kolkata', 'America/St_Johns']) {
        // One connection: the session's time zone holds for the select.
        await sql`set time zone ${sql.lit(zone)}`.execute(db);
        const read = await sql<{ at: Date }>`select unnest(${instants}::timestamptz[]) as at`.execute(db);
        expect(read.rows.map((row) => row.at.toISOString())).toEqual(instants);
      }
    } finally {
      await db.destroy();
    }
  });
});
