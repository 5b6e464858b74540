import { z } from 'zod';

/** The longest regex source a rule criterion or silence matcher may have. */
export const MAX_REGEX_LENGTH = 1_000;

/** Whether `source` at `i` starts an unbounded quantifier: `*`, `+`, `{n,}`. */
function unboundedQuantifierAt(source: string, i: number): boolean {
  const c = source[i];
  if (c === '*' || c === '+') return true;
  return c === '{' && /^\{\d+,\}/.test(source.slice(i, i + 12));
}

/**
 * Why a regex could backtrack catastrophically, or null. We refuse, when a rule or silence is
 * saved, a group under an unbounded quantifier (`*`, `+`, `{n,}`) that itself contains an
 * unbounded quantifier or an alternation: `(a+)+`, `(a*)*b`, `(\w+\s?)*`, `(a|aa)+`. Those
 * are the shapes of exponential backtracking in a backtracking engine; a bounded outer
 * quantifier (`?`, `{0,3}`) and quantifiers outside groups are fine. Conservative on purpose:
 * `(foo|bar)+` is refused too (write `(foo|bar)` or a character class instead).
 */
export function regexHazard(source: string): string | null {
  if (source.length > MAX_REGEX_LENGTH) return `longer than ${MAX_REGEX_LENGTH} characters`;
  const stack: { risky: boolean }[] = [{ risky: false }];
  let inClass = false;
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i];
    const top = stack[stack.length - 1] ?? { risky: false };
    if (c === '\\') {
      i += 1;
      if (!inClass && unboundedQuantifierAt(source, i + 1)) top.risky = true;
      continue;
    }
    if (inClass) {
      if (c === ']') {
        inClass = false;
        if (unboundedQuantifierAt(source, i + 1)) top.risky = true;
      }
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') stack.push({ risky: false });
    else if (c === '|') top.risky = true;
    else if (c === ')' && stack.length > 1) {
      stack.pop();
      const parent = stack[stack.length - 1] ?? { risky: false };
      if (unboundedQuantifierAt(source, i + 1)) {
        if (top.risky) return `nested quantifier at position ${i + 1} (catastrophic backtracking)`;
        parent.risky = true;
      } else if (top.risky) parent.risky = true;
    } else if (unboundedQuantifierAt(source, i + 1) && c !== '(' && c !== '|') top.risky = true;
  }
  return null;
}

/** Why a regular expression does not compile or may backtrack catastrophically, or null. */
export function regexError(source: string): string | null {
  try {
    new RegExp(source);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return regexHazard(source);
}

const RegexSource = z.string().superRefine((source, ctx) => {
  const error = regexError(source);
  if (error) ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${error}` });
});

/**
 * One criterion of a rule (SPEC section 6): a string for equality, or one of
 * `{regex}`, `{not}`, `{notRegex}`. Regexes are anchored at both ends, like Alertmanager's.
 */
export const Criterion = z.union([
  z.string(),
  z.strictObject({ regex: RegexSource }),
  z.strictObject({ not: z.string() }),
  z.strictObject({ notRegex: RegexSource }),
]);
export type Criterion = z.infer<typeof Criterion>;

/** label name -> criterion; empty criteria match everything. */
export const MatchCriteria = z.record(z.string().min(1), Criterion);
export type MatchCriteria = z.infer<typeof MatchCriteria>;

/** What rule selection needs to know of a rule, Slack or email alike. */
export interface MatchableRule {
  name: string;
  priority: number;
  isActive: boolean;
  matchCriteria: MatchCriteria;
}
