import {
  compileAnchoredRegex,
  RegexSyntaxError,
  type AnchoredRegex,
  type Criterion,
  type LabelSet,
  type MatchableRule,
  type MatchCriteria,
} from '@sentryhub/contracts';

export { RegexSyntaxError, type AnchoredRegex } from '@sentryhub/contracts';

export type CriterionFailure = { label: string; criterion: Criterion; actual: string | null; reason: string };
export type MatchResult = { matched: true } | { matched: false; failure: CriterionFailure };

/** How many compiled patterns (or their syntax errors) are kept; past it the oldest go. */
export const REGEX_CACHE_SIZE = 1_000;
const regexCache = new Map<string, AnchoredRegex | RegexSyntaxError>();

/**
 * A rule criterion's or matcher's regex, compiled once (bounded LRU cache): RE2 syntax, as
 * Alertmanager's Go regexp, matched in linear time (re2js) against the whole value, as
 * Alertmanager anchors its matchers. `anchoredRegex(source).test(value)`. Throws a
 * RegexSyntaxError naming the problem for a pattern RE2 refuses.
 */
export function anchoredRegex(source: string): AnchoredRegex {
  let entry = regexCache.get(source);
  if (entry === undefined) {
    try {
      entry = compileAnchoredRegex(source);
    } catch (error) {
      if (!(error instanceof RegexSyntaxError)) throw error;
      entry = error;
    }
    if (regexCache.size >= REGEX_CACHE_SIZE) regexCache.delete(regexCache.keys().next().value as string);
  } else {
    regexCache.delete(source);
  }
  regexCache.set(source, entry);
  if (entry instanceof RegexSyntaxError) throw entry;
  return entry;
}

/** How many compiled patterns the cache holds now (for tests of its bound). */
export function regexCacheSize(): number {
  return regexCache.size;
}

/**
 * Whether `value` matches the whole regex, or the syntax problem of a regex that RE2 refuses
 * (only a pattern written to the database by hand, or saved before regexes were RE2, can be one).
 */
function regexMatches(source: string, value: string): boolean | RegexSyntaxError {
  try {
    return anchoredRegex(source).test(value);
  } catch (error) {
    if (error instanceof RegexSyntaxError) return error;
    throw error;
  }
}

/**
 * A label's value, or null: own properties only, so a label named `constructor` or `valueOf`
 * that an alert does not have is missing, not a function inherited from Object.prototype.
 */
export function labelValue(labels: LabelSet, name: string): string | null {
  return Object.hasOwn(labels, name) ? (labels[name] ?? null) : null;
}

/** Why a criterion fails for a label value (a missing label counts as ""), or null when it holds. */
function failureReason(criterion: Criterion, actual: string | null): string | null {
  const value = actual ?? '';
  if (typeof criterion === 'string') {
    return actual === criterion ? null : `expected "${criterion}", got ${actual === null ? 'no such label' : `"${actual}"`}`;
  }
  if ('not' in criterion) {
    return actual !== criterion.not ? null : `must not be "${criterion.not}"`;
  }
  // A regex RE2 refuses fails its criterion either way: such a rule matches nothing until fixed.
  if ('regex' in criterion) {
    const matches = regexMatches(criterion.regex, value);
    if (matches instanceof RegexSyntaxError) return `invalid regular expression /${criterion.regex}/: ${matches.message}`;
    return matches ? null : `"${value}" does not match /${criterion.regex}/`;
  }
  const matches = regexMatches(criterion.notRegex, value);
  if (matches instanceof RegexSyntaxError) return `invalid regular expression /${criterion.notRegex}/: ${matches.message}`;
  return matches ? `"${value}" must not match /${criterion.notRegex}/` : null;
}

/** A rule matches when every criterion holds for the labels; the first failure says why not. */
export function matchCriteria(criteria: MatchCriteria, labels: LabelSet): MatchResult {
  for (const [label, criterion] of Object.entries(criteria)) {
    const actual = labelValue(labels, label);
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
