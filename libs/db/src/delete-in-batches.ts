import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema';

/** Rows deleted by one statement of deleteInBatches unless told otherwise. */
export const DEFAULT_DELETE_BATCH_SIZE = 1_000;

export interface BatchDeleteOptions {
  /** A table with a bigint `id` primary key. */
  table: keyof Database & string;
  /** Which rows go: a condition on the table's own columns (refer to the table by its name). */
  where: RawBuilder<unknown>;
  batchSize?: number;
  /** Checked between batches: a shutdown stops the loop after the batch in progress. */
  stopped?: () => boolean;
}

/**
 * Deletes the rows of `table` that match `where`, at most `batchSize` per statement, each
 * statement its own short transaction:
 *
 *   delete from t where id in (select id from t where ... order by id limit n for update skip locked)
 *
 * Safe with several replicas running it at once: a row another replica (or any writer) holds
 * is skipped, never waited for and never deleted twice, so the replicas share the work. Walking
 * the primary key in order finds the oldest rows first without an index on the age column.
 * Stops when a batch comes back short (whatever is left is locked by someone else, or gone).
 * Answers how many rows this caller deleted.
 */
export async function deleteInBatches(db: Kysely<Database>, options: BatchDeleteOptions): Promise<number> {
  const batchSize = options.batchSize ?? DEFAULT_DELETE_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const table = sql.table(options.table);
  let deleted = 0;
  for (;;) {
    const result = await sql<{ id: string }>`
      delete from ${table}
      where id in (select id from ${table} where ${options.where} order by id limit ${batchSize} for update skip locked)
    `.execute(db);
    const count = Number(result.numAffectedRows ?? 0n);
    deleted += count;
    if (count < batchSize || options.stopped?.()) return deleted;
  }
}
