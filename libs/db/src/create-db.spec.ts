import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from './create-db';
import { anyId, isStalePreparedStatement } from './prepared-statements';
import { arrayLiteral } from './array-parameters';
import fc from 'fast-check';
import type { Database } from './schema';
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

/** The error `run` fails with, or null when it succeeds. */
const failureOf = (run: Promise<unknown>): Promise<unknown> =>
  run.then(
    () => null,
    (error: unknown) => error,
  );

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
      const failure = await failureOf(
        db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // What a PostgreSQL restart does to every connection, while this one is checked out
          // and idle between two statements.
          await admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await sql`select 1`.execute(trx);
        }),
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

  describe('prepared statements', () => {
    /** What the one connection of `db` has prepared: text -> executions (generic + custom plans). */
    async function preparedOn(db: Kysely<Database>): Promise<Map<string, number>> {
      const { rows } = await sql<{
        statement: string;
        executions: number;
      }>`select statement, generic_plans + custom_plans as executions from pg_prepared_statements`.execute(db);
      return new Map(rows.map((row) => [row.statement, Number(row.executions)]));
    }

    it('a statement with parameters is prepared once on a connection and executed again without parsing; one without parameters runs as text', async () => {
      const db = createDb(database.url, { maxConnections: 1 });
      try {
        for (const n of [1, 2, 3]) {
          const { rows } = await sql<{ n: number }>`select ${n}::int as n`.execute(db);
          expect(rows).toEqual([{ n }]);
        }
        // Several statements in one text, no parameter: only the simple protocol accepts it.
        await sql`select 1; select 2`.execute(db);
        expect(await preparedOn(db)).toEqual(new Map([['select $1::int as n', 3]]));
      } finally {
        await db.destroy();
      }
    });

    it('prepares at most preparedStatements texts (0: none); texts past the bound run unnamed, with the same results', async () => {
      const bounded = createDb(database.url, { maxConnections: 1, preparedStatements: 2 });
      const none = createDb(database.url, { maxConnections: 1, preparedStatements: 0 });
      try {
        for (const db of [bounded, none])
          for (const column of ['a', 'b', 'c']) {
            const { rows } = await sql<Record<string, number>>`select ${7}::int as ${sql.ref(column)}`.execute(db);
            expect(rows).toEqual([{ [column]: 7 }]);
          }
        expect([...(await preparedOn(bounded)).keys()].sort()).toEqual(['select $1::int as "a"', 'select $1::int as "b"']);
        expect(await preparedOn(none)).toEqual(new Map());
      } finally {
        await bounded.destroy();
        await none.destroy();
      }
    });

    it("a schema change that alters a prepared statement's result fails the one execution that meets it; the next prepares it again", async () => {
      const db = createDb(database.url, { maxConnections: 1 });
      try {
        await sql`create table rolling (id int)`.execute(db);
        await sql`insert into rolling values (1)`.execute(db);
        const read = () => sql<Record<string, unknown>>`select * from rolling where id = ${1}`.execute(db);
        expect((await read()).rows).toEqual([{ id: 1 }]);
        // What a migration does while an older replica runs.
        await sql`alter table rolling add column note text default 'new'`.execute(db);
        const stale = await failureOf(read());
        expect(isStalePreparedStatement(stale)).toBe(true);
        expect((await read()).rows).toEqual([{ id: 1, note: 'new' }]);
        // Prepared again as a new text, which a pooler sharing statements by text cannot mistake for the stale one.
        expect([...(await preparedOn(db)).keys()].filter((text) => text.includes('from rolling where')).sort((a, b) => b.length - a.length)).toEqual([
          expect.stringMatching(/^\/\* sentryhub_\d+ \*\/ select \* from rolling where id = \$1$/),
          'select * from rolling where id = $1',
        ]);
      } finally {
        await sql`drop table if exists rolling`.execute(db);
        await db.destroy();
      }
    });

    it('a statement that PostgreSQL could not prepare (its table did not exist yet) is prepared once the table exists', async () => {
      const db = createDb(database.url, { maxConnections: 1 });
      try {
        const read = () => sql<{ id: number }>`select id from later where id = ${1}`.execute(db);
        await expect(read()).rejects.toThrow(/relation "later" does not exist/);
        // What a service started before its migration meets, on the same connection.
        await sql`create table later (id int)`.execute(db);
        await sql`insert into later values (1)`.execute(db);
        expect((await read()).rows).toEqual([{ id: 1 }]);
        expect([...(await preparedOn(db)).keys()]).toEqual(['select id from later where id = $1']);
      } finally {
        await sql`drop table if exists later`.execute(db);
        await db.destroy();
      }
    });

    it('a prepared statement gone from its connection (DEALLOCATE ALL) fails the one execution that meets it; the next prepares it again', async () => {
      const db = createDb(database.url, { maxConnections: 1 });
      try {
        const read = () => sql<{ n: number }>`select ${5}::int as n`.execute(db);
        expect((await read()).rows).toEqual([{ n: 5 }]);
        await sql`deallocate all`.execute(db);
        const gone = await failureOf(read());
        expect(isStalePreparedStatement(gone)).toBe(true);
        expect((await read()).rows).toEqual([{ n: 5 }]);
      } finally {
        await db.destroy();
      }
    });

    it('tells a stale prepared statement by its code and routine, in whatever language the server answers', () => {
      const error = (fields: Record<string, string>) => Object.assign(new Error(fields['message'] ?? ''), fields);
      expect(
        isStalePreparedStatement(
          error({ code: '0A000', routine: 'RevalidateCachedQuery', message: 'le plan en cache ne doit pas modifier le type en résultat' }),
        ),
      ).toBe(true);
      expect(isStalePreparedStatement(error({ code: '0A000', routine: 'ExecInitExpr', message: 'cannot use subquery here' }))).toBe(false);
      expect(isStalePreparedStatement(error({ code: '42P01', message: 'relation "t" does not exist' }))).toBe(false);
      expect(isStalePreparedStatement('cached plan must not change result type')).toBe(false);
    });

    it('anyId keeps one text whatever the number of ids', async () => {
      const db = createDb(database.url, { maxConnections: 1 });
      try {
        for (const ids of [[1], [1, 2, 3], [4, 5]]) {
          const { rows } = await sql<{ id: number }>`select id from generate_series(1, 4) as id where id = ${anyId(ids)} order by id`.execute(db);
          expect(rows.map((row) => row.id)).toEqual(ids.filter((id) => id <= 4));
        }
        expect([...(await preparedOn(db)).values()]).toEqual([3]);
      } finally {
        await db.destroy();
      }
    });
  });

  it('sends array parameters as literals PostgreSQL reads back element for element, whatever the text', async () => {
    const db = createDb(database.url, { maxConnections: 1 });
    try {
      // The literal itself as the parameter (a string goes as it is), so that this reads back what arrayLiteral wrote.
      const texts = async (values: readonly (string | null)[]) =>
        (await sql<{ a: (string | null)[] }>`select ${arrayLiteral(values)}::text[] as a`.execute(db)).rows[0]?.a;
      // The words and characters an array literal treats specially, bare and quoted.
      const special = ['NULL', 'null', 'Null', '', ' ', ' padded ', 'a,b', '{}', '{a}', '"', '\\', '\\"', 'NaN', 'é', '🔥', 'tab\tnew\nline', 'x-1.5:+_'];
      expect(await texts([...special, null])).toEqual([...special, null]);
      // Any text PostgreSQL can hold (no NUL), with nulls among them.
      const text = fc.string({ unit: 'binary', maxLength: 20 }).filter((value) => !value.includes('\u0000'));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.option(text, { nil: null }), { maxLength: 12 }), async (values) => {
          expect(await texts(values)).toEqual(values);
        }),
        { numRuns: 200 },
      );
      // Numbers, booleans and ISO timestamps, as the statements of a batch send them.
      const other = await sql<{ ids: string[]; flags: (boolean | null)[]; at: Date[] }>`
        select ${[1, -2, Number.MAX_SAFE_INTEGER]}::bigint[] as ids, ${[true, false, null]}::boolean[] as flags,
               ${['2026-12-07T12:00:00.123Z']}::timestamptz[] as at`.execute(db);
      expect(other.rows[0]).toEqual({
        ids: ['1', '-2', String(Number.MAX_SAFE_INTEGER)],
        flags: [true, false, null],
        at: [new Date('2026-12-07T12:00:00.123Z')],
      });
      // Every connection of the pool writes them so, prepared statements or not: node-postgres
      // would quote every element (`{"a","b"}`), arrayLiteral leaves plain words bare.
      const unprepared = createDb(database.url, { maxConnections: 1, preparedStatements: 0 });
      try {
        for (const each of [db, unprepared]) {
          const sent = await sql<{ text: string }>`select ${['a', 'b c', null]}::text as text`.execute(each);
          expect(sent.rows[0]?.text).toBe('{a,"b c",NULL}');
        }
      } finally {
        await unprepared.destroy();
      }
      // What is not a flat array of plain values is left to node-postgres, and still works.
      const dates = [new Date('2026-12-07T12:00:00.000Z')];
      expect(arrayLiteral(dates)).toBeNull();
      expect(arrayLiteral([[1]])).toBeNull();
      const left = await sql<{ at: Date[] }>`select ${dates}::timestamptz[] as at`.execute(db);
      expect(left.rows[0]?.at).toEqual(dates);
    } finally {
      await db.destroy();
    }
  });
});
