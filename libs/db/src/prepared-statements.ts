import { sql, type RawBuilder } from 'kysely';
import type pg from 'pg';

/**
 * `= any(<ids as one bigint[] parameter>)`, for `.where(column, '=', anyId(ids))`: one text
 * whatever the number of ids (an `in` list has a parameter an id, so a text per length, each
 * parsed again and each taking a prepared statement's place).
 */
export function anyId(ids: readonly number[]): RawBuilder<number> {
  return sql<number>`any(${ids}::bigint[])`;
}

/**
 * The names under which a pool's connections prepare the statements it runs. A text gets a
 * name the first time it is sent, up to `max` texts (0: none); past that, texts run unnamed,
 * parsed and planned at every execution as before, so a process that builds many distinct
 * texts holds a bounded number of prepared statements on each connection.
 */
export class StatementNames {
  readonly #names = new Map<string, string>();
  #made = 0;

  constructor(readonly max: number) {}

  nameOf(text: string): string | undefined {
    let name = this.#names.get(text);
    if (name === undefined && this.#names.size < this.max) {
      name = `sentryhub_${++this.#made}`;
      this.#names.set(text, name);
    }
    return name;
  }

  /** The prepared form of `text` is unusable: its next execution prepares it again, under a new name. */
  renew(text: string): void {
    if (this.#names.delete(text)) this.nameOf(text);
  }
}

/**
 * PostgreSQL's answer to a prepared statement whose result columns a schema change altered
 * (`select *` from a table that gained a column during a rolling upgrade).
 */
export function isStalePreparedStatement(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '0A000' && /cached plan must not change result type/.test(error.message);
}

type QueryWithValues = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
type QueryWithConfig = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

/**
 * Sends the client's statements that carry parameters (every statement kysely compiles with a
 * value in it) as named prepared statements: PostgreSQL parses each text once per connection,
 * and its plan cache (`plan_cache_mode = auto`) keeps a generic plan where one serves as well
 * as planning every time. Statements without parameters go as before, by the simple protocol
 * (a migration's several statements in one text keep working). When a schema change makes a
 * prepared statement unusable, the execution that meets it fails as PostgreSQL says, and the
 * next one prepares the text again.
 */
export function prepareStatements(client: pg.PoolClient, names: StatementNames): void {
  const query = client.query.bind(client) as unknown as (...args: unknown[]) => unknown;
  const prepared = (text: unknown, values?: unknown, ...rest: unknown[]): unknown => {
    const name = rest.length === 0 && typeof text === 'string' && Array.isArray(values) && values.length > 0 ? names.nameOf(text) : undefined;
    if (name === undefined) return query(text, values, ...rest);
    return (query as QueryWithConfig)({ name, text: text as string, values: values as unknown[] }).catch((error: unknown) => {
      if (isStalePreparedStatement(error)) names.renew(text as string);
      throw error;
    });
  };
  (client as unknown as { query: QueryWithValues }).query = prepared as QueryWithValues;
}
