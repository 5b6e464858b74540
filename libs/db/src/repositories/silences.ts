import { SilenceMatcher } from '@sentryhub/contracts';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../schema';

const StoredMatchers = z.array(SilenceMatcher).min(1);

export interface ActiveSilenceRow {
  id: number;
  matchers: SilenceMatcher[];
  startsAt: Date;
  endsAt: Date;
  comment: string;
  createdBy: string;
}

/**
 * Silences active at `now` (start inclusive, end exclusive): evaluated when used, so an expired
 * one never suppresses. The API refuses invalid matchers; a row written by hand with one is left
 * out rather than allowed to fail whoever evaluates it.
 */
export async function activeSilences(db: Kysely<Database>, now: Date): Promise<ActiveSilenceRow[]> {
  const rows = await db.selectFrom('silences').selectAll().where('starts_at', '<=', now).where('ends_at', '>', now).execute();
  return rows.flatMap((row) => {
    const matchers = StoredMatchers.safeParse(row.matchers);
    return matchers.success
      ? [{ id: row.id, matchers: matchers.data, startsAt: row.starts_at, endsAt: row.ends_at, comment: row.comment, createdBy: row.created_by }]
      : [];
  });
}
