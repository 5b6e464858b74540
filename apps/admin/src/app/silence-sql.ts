import type { AlertGroup, Database } from '@sentryhub/db';
import { matcherHolds, type ActiveSilence, type SilenceMatcher } from '@sentryhub/rules';
import { sql, type Expression, type SelectQueryBuilder, type SqlBool } from 'kysely';

/**
 * Silences evaluated in PostgreSQL over `alert_groups.labels`, so that list and match endpoints
 * page in SQL instead of loading groups to filter them in memory.
 *
 * Equality matchers (`=`, `!=`) are translated exactly (a missing label is "", as in
 * `matcherHolds`). Regex matchers are not: their semantics are RE2's (libs/rules), which
 * PostgreSQL's regex engine does not share, so a silence with a regex matcher gives SQL only its
 * equality part as a prefilter, and its regexes are checked with `matcherHolds` on bounded
 * batches of the prefiltered rows.
 */

const FALSE = sql<SqlBool>`false`;
const TRUE = sql<SqlBool>`true`;

function equalitySql(matcher: SilenceMatcher): Expression<SqlBool> {
  const value = sql<string>`coalesce(labels ->> ${matcher.name}, '')`;
  return matcher.isEqual ? sql<SqlBool>`${value} = ${matcher.value}` : sql<SqlBool>`${value} <> ${matcher.value}`;
}

const and = (parts: Expression<SqlBool>[]) => (parts.length === 0 ? TRUE : sql<SqlBool>`(${sql.join(parts, sql` and `)})`);
const or = (parts: Expression<SqlBool>[]) => (parts.length === 0 ? FALSE : sql<SqlBool>`(${sql.join(parts, sql` or `)})`);

export interface SilenceSql {
  /** Holds for every group the silence matches (and, when `exact`, for those only). */
  where: Expression<SqlBool>;
  exact: boolean;
}

/** One silence's matchers (its time window is the caller's: pass silences active at the instant in question). */
export function silenceSql(silence: Pick<ActiveSilence, 'matchers'>): SilenceSql {
  if (silence.matchers.length === 0) return { where: FALSE, exact: true };
  const equality = silence.matchers.filter((matcher) => !matcher.isRegex);
  return { where: and(equality.map(equalitySql)), exact: equality.length === silence.matchers.length };
}

/** "Silenced by any of these silences". */
export function silencedSql(silences: readonly Pick<ActiveSilence, 'matchers'>[]): SilenceSql {
  const each = silences.map(silenceSql);
  return { where: or(each.map((one) => one.where)), exact: each.every((one) => one.exact) };
}

/** Whether a silence's regex matchers (the part SQL did not check) hold for these labels. */
export const regexMatchersHold = (silence: Pick<ActiveSilence, 'matchers'>, labels: AlertGroup['labels']) =>
  silence.matchers.every((matcher) => !matcher.isRegex || matcherHolds(matcher, labels));

/** Rows held at once while scanning. */
export const SCAN_BATCH = 500;

/**
 * Groups of a query newest first (last_occurrence desc, id desc), in batches of `SCAN_BATCH`
 * fetched by keyset: never more than one batch in memory.
 */
export async function* scanGroups(query: SelectQueryBuilder<Database, 'alert_groups', object>): AsyncGenerator<AlertGroup[]> {
  let cursor: { at: string; id: number } | null = null;
  for (;;) {
    const after: { at: string; id: number } | null = cursor;
    let batch = query.selectAll('alert_groups').select(sql<string>`alert_groups.last_occurrence::text`.as('cursor_at'));
    if (after) batch = batch.where(sql<SqlBool>`(alert_groups.last_occurrence, alert_groups.id) < (${after.at}::timestamptz, ${after.id})`);
    const rows = await batch.orderBy('alert_groups.last_occurrence', 'desc').orderBy('alert_groups.id', 'desc').limit(SCAN_BATCH).execute();
    if (rows.length === 0) return;
    const last = rows[rows.length - 1];
    if (!last) return;
    cursor = { at: last.cursor_at, id: last.id };
    yield rows.map(({ cursor_at: _cursor, ...group }) => group as AlertGroup);
    if (rows.length < SCAN_BATCH) return;
  }
}
