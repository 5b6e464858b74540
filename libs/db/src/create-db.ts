import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';
import { parseTimestamptz } from './timestamps';
import { prepareStatements, StatementNames } from './prepared-statements';
import { sendArraysAsLiterals } from './array-parameters';

const INT8_OID = 20;
const PARSED_TYPES = {
  // bigserial ids and counts fit in a JS number; return them as numbers, not strings.
  // timestamptz through a fast path for the UTC form PostgreSQL writes (timestamps.ts).
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number.parseInt(value, 10)
      : oid === pg.types.builtins.TIMESTAMPTZ && format !== 'binary'
        ? parseTimestamptz
        : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface DbOptions {
  maxConnections?: number;
  applicationName?: string;
  /** DATABASE_PREPARED_STATEMENTS: how many distinct statement texts each connection prepares (0: none). */
  preparedStatements?: number;
}

/** Enough for every statement of a service's steady work (the processor's hot path is about 20). */
export const DEFAULT_PREPARED_STATEMENTS = 100;

export function createPool(connectionString: string, options: DbOptions = {}): pg.Pool {
  const names = new StatementNames(options.preparedStatements ?? DEFAULT_PREPARED_STATEMENTS);
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'sentryhub',
    types: PARSED_TYPES,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // A client checked out of the pool (a transaction between two statements) whose connection
  // dies emits 'error' on itself, and an 'error' nobody listens to kills the process (found
  // by the PostgreSQL-restart fault scenario). The statement in flight still fails with the
  // error, and the pool drops the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    if (names.max > 0) prepareStatements(client, names);
    sendArraysAsLiterals(client);
  });
  return pool;
}

export function createDb(connectionString: string, options: DbOptions = {}): Kysely<Database> {
  const pool = createPool(connectionString, options);
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
