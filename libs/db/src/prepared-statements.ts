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

/** A text's prepared statement: its name, and the text sent under it. */
export interface PreparedText {
  name: string;
  text: string;
}

/**
 * The names under which a pool's connections prepare the statements it runs. A text gets a
 * name the first time it is sent, up to `max` texts (0: none); past that, texts run unnamed,
 * parsed and planned at every execution as before, so a process that builds many distinct
 * texts holds a bounded number of prepared statements on each connection.
 */
export class StatementNames {
  readonly #prepared = new Map<string, PreparedText>();
  #made = 0;

  constructor(readonly max: number) {}

  preparedFor(text: string): PreparedText | undefined {
    let prepared = this.#prepared.get(text);
    if (prepared === undefined && this.#prepared.size < this.max) {
      prepared = { name: this.#nextName(), text };
      this.#prepared.set(text, prepared);
    }
    return prepared;
  }

  /**
   * The prepared form of `text` is unusable: its next execution prepares it again, under a new
   * name and with a comment that makes the text new too (a pooler that shares prepared
   * statements between clients, such as PgBouncer, finds them by their text).
   */
  renew(text: string): void {
    if (!this.#prepared.has(text)) return;
    const name = this.#nextName();
    this.#prepared.set(text, { name, text: `/* ${name} */ ${text}` });
  }

  #nextName(): string {
    this.#made += 1;
    return `sentryhub_${this.#made}`;
  }
}

/**
 * PostgreSQL's answers that a connection's prepared statement cannot serve any more: a schema
 * change altered its result columns (`select *` or `returning *` from a table that gained a
 * column during a rolling upgrade; the routine's name, unlike the message, is not translated),
 * or the statement is gone from the connection (`DEALLOCATE`, or a value that could not be
 * bound, after which node-postgres closes it but still believes it prepared).
 */
export function isStalePreparedStatement(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  return (code === '0A000' && (routine === 'RevalidateCachedQuery' || /cached plan must not change result type/.test(error.message))) || code === '26000';
}

type QueryWithValues = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
type QueryWithConfig = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

/**
 * Sends the client's statements that carry parameters (every statement kysely compiles with a
 * value in it) as named prepared statements: PostgreSQL parses each text once per connection,
 * and its plan cache (`plan_cache_mode = auto`) keeps a generic plan where one serves as well
 * as planning every time. Statements without parameters go as before, by the simple protocol
 * (a migration's several statements in one text keep working). When a schema change makes a
 * prepared statement unusable (isStalePreparedStatement), the execution that meets it fails as
 * PostgreSQL says, and the next one prepares the text again.
 */
export function prepareStatements(client: pg.PoolClient, names: StatementNames): void {
  const query = client.query.bind(client) as unknown as (...args: unknown[]) => unknown;
  const run = (text: unknown, values?: unknown, ...rest: unknown[]): unknown => {
    const prepared = rest.length === 0 && typeof text === 'string' && Array.isArray(values) && values.length > 0 ? names.preparedFor(text) : undefined;
    if (prepared === undefined) return query(text, values, ...rest);
    return (query as QueryWithConfig)({ ...prepared, values: values as unknown[] }).catch((error: unknown) => {
      if (isStalePreparedStatement(error)) names.renew(text as string);
      throw error;
    });
  };
  (client as unknown as { query: QueryWithValues }).query = run as QueryWithValues;
}
