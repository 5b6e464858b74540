import type { Criterion, LabelSet, MatchableRule, MatchCriteria } from '@sentryhub/contracts';

export type CriterionFailure = { label: string; criterion: Criterion; actual: string | null; reason: string };
export type MatchResult = { matched: true } | { matched: false; failure: CriterionFailure };

const regexCache = new Map<string, RegExp>();

/** Regexes are anchored at both ends, as Alertmanager anchors its matchers. */
export function anchoredRegex(source: string): RegExp {
  let regex = regexCache.get(source);
  if (!regex) {
    regex = new RegExp(`^(?:${source})$`);
    if (regexCache.size > 1_000) regexCache.clear();
    regexCache.set(source, regex);
  }
  return regex;
}

/** Why a criterion fails for a label value (a missing label counts as ""), or null when it holds. */
function failureReason(criterion: Criterion, actual: string | null): string | null {
  const value = actual ?? '';
  if (typeof criterion === 'string') {
    return actual === criterion ? null : `expected "${criterion}", got ${actual === null ? 'no such label' : `"${actual}"`}`;
  }
  if ('regex' in criterion) {
    return anchoredRegex(criterion.regex).test(value) ? null : `"${value}" does not match /${criterion.regex}/`;
  }
  if ('not' in criterion) {
    return actual !== criterion.not ? null : `must not be "${criterion.not}"`;
  }
  return anchoredRegex(criterion.notRegex).test(value) ? `"${value}" must not match /${criterion.notRegex}/` : null;
}

/** A rule matches when every criterion holds for the labels; the first failure says why not. */
export function matchCriteria(criteria: MatchCriteria, labels: LabelSet): MatchResult {
  for (const [label, criterion] of Object.entries(criteria)) {
    const actual = labels[label] ?? null;
    const reason = failureReason(criterion, actual);
    if (reason !== null) return { matched: false, failure: { label, criterion, actual, reason } };
  }
  return { matched: true };
}

/** Highest priority first, then lowest name: the order in which rules win. */
export function compareRules(a: MatchableRule, b: MatchableRule): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** The winning rule among the active ones whose criteria match, or null. */
export function selectRule<R extends MatchableRule>(rules: readonly R[], labels: LabelSet): R | null {
  let winner: R | null = null;
  for (const rule of rules) {
    if (!rule.isActive || !matchCriteria(rule.matchCriteria, labels).matched) continue;
    if (winner === null || compareRules(rule, winner) < 0) winner = rule;
  }
  return winner;
}
