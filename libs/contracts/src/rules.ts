import { z } from 'zod';

/** Why a regular expression does not compile, or null when it does. */
export function regexError(source: string): string | null {
  try {
    new RegExp(source);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
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
