import { anyId, findInhibitingSource, type Database, type StoredInhibitRule } from '@sentryhub/db';
import type { LabelSet } from '@sentryhub/contracts';
import { inhibitionPredicates, inhibits, matchersHold } from '@sentryhub/rules';
import { sql, type Kysely, type SqlBool } from 'kysely';

/** A listed (firing) alert group that may be inhibited. */
export interface InhibitionTarget {
  groupId: number;
  labels: LabelSet;
}

/**
 * Firing source candidates of one inhibit rule read at once for a whole `GET /api/v2/alerts`.
 * Beyond it, that rule's targets are looked up one by one (libs/db `findInhibitingSource`,
 * keyset batches), so memory stays bounded whatever the number of firing sources.
 */
export const INHIBITION_SOURCE_LIMIT = 10_000;

const labelOrEmpty = (labels: LabelSet, name: string) => (Object.hasOwn(labels, name) ? (labels[name] ?? '') : '');
const equalKey = (equal: readonly string[], labels: LabelSet) => JSON.stringify(equal.map((name) => labelOrEmpty(labels, name)));

/**
 * The conditions every source of `rule` meets, in SQL: its equality and non-regex inequality
 * source matchers (a missing label is "", as in Alertmanager). Regexes and the two-sided
 * exclusion are `inhibits`' to decide on each candidate.
 */
function sourceConditions(rule: StoredInhibitRule) {
  const required: Record<string, string> = {};
  const conditions: ReturnType<typeof sql<SqlBool>>[] = [];
  for (const matcher of rule.sourceMatchers) {
    if (matcher.isRegex) continue;
    if (!matcher.isEqual) conditions.push(sql<SqlBool>`coalesce(labels ->> ${matcher.name}, '') <> ${matcher.value}`);
    else if (matcher.value === '') conditions.push(sql<SqlBool>`coalesce(labels ->> ${matcher.name}, '') = ''`);
    else if (Object.hasOwn(required, matcher.name) && required[matcher.name] !== matcher.value) conditions.push(sql<SqlBool>`false`);
    else required[matcher.name] = matcher.value;
  }
  if (Object.keys(required).length > 0) conditions.push(sql<SqlBool>`labels @> ${JSON.stringify(required)}::jsonb`);
  return conditions;
}

/**
 * The alert that inhibits each target, as Alertmanager's inhibitor decides it: the inhibit
 * rules in order (the first whose target matchers hold and that has a source wins), a source
 * being another firing alert group that matches the source matchers, with the target's values
 * of the `equal` labels, and not itself a target of the rule when the target is also a source
 * (libs/rules `inhibits`). Alertmanager names one source (`inhibitedBy` has one fingerprint);
 * among several, SentryHub names the lowest fingerprint, so that the answer is stable (past
 * the bound, the oldest group found).
 *
 * Queries: the inhibit rules are given (read once per request); per rule that has targets
 * among `targets`, one query reads its firing source candidates, at most
 * `sourceLimit` of them. Returns groupId -> the source's fingerprint.
 */
export async function inhibitingSources(
  db: Kysely<Database>,
  rules: readonly StoredInhibitRule[],
  targets: readonly InhibitionTarget[],
  sourceLimit = INHIBITION_SOURCE_LIMIT,
): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  const fallbackSources = new Map<number, number>();
  for (const rule of rules) {
    const pending = targets.filter(
      (target) => !found.has(target.groupId) && !fallbackSources.has(target.groupId) && matchersHold(rule.targetMatchers, target.labels),
    );
    if (pending.length === 0) continue;
    let query = db.selectFrom('alert_groups').select(['id', 'fingerprint', 'labels']).where('current_status', '=', 'firing');
    for (const condition of sourceConditions(rule)) query = query.where(condition);
    const candidates = await query
      .orderBy('fingerprint')
      .limit(sourceLimit + 1)
      .execute();
    if (candidates.length > sourceLimit) {
      // Too many firing sources to hold at once: each target's own search, in bounded batches.
      for (const target of pending) {
        const source = await findInhibitingSource(db, [rule], target, inhibitionPredicates);
        if (source) fallbackSources.set(target.groupId, source.sourceGroupId);
      }
      continue;
    }
    const byEqual = new Map<string, typeof candidates>();
    for (const candidate of candidates) {
      const key = equalKey(rule.equal, candidate.labels);
      const bucket = byEqual.get(key);
      if (bucket) bucket.push(candidate);
      else byEqual.set(key, [candidate]);
    }
    for (const target of pending) {
      const source = byEqual
        .get(equalKey(rule.equal, target.labels))
        ?.find((candidate) => inhibits(rule, { groupId: candidate.id, labels: candidate.labels }, target));
      if (source) found.set(target.groupId, source.fingerprint);
    }
  }
  if (fallbackSources.size > 0) {
    const ids = [...new Set(fallbackSources.values())];
    const fingerprints = new Map(
      (await db.selectFrom('alert_groups').select(['id', 'fingerprint']).where('id', '=', anyId(ids)).execute()).map((row) => [row.id, row.fingerprint]),
    );
    for (const [targetId, sourceId] of fallbackSources) {
      const print = fingerprints.get(sourceId);
      if (print !== undefined) found.set(targetId, print);
    }
  }
  return found;
}
