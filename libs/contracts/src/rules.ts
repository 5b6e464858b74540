import { RE2JS } from 're2js';
import { z } from 'zod';

/** The longest regex source a rule criterion or silence matcher may have. */
export const MAX_REGEX_LENGTH = 1_000;

/**
 * A user-supplied regular expression compiled for matching a whole label value: RE2 syntax
 * (what Alertmanager's Go regexp accepts: no backreferences, no lookaround), matched in time
 * linear in the value by re2js, and fully anchored, as Alertmanager's `^(?:regex)$`.
 */
export interface AnchoredRegex {
  readonly source: string;
  /** Whether the whole of `value` matches. */
  test(value: string): boolean;
}

/** A regex that RE2 refuses (or that is too long); the message names the problem. */
export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Compiles `source` as Alertmanager would, throwing a RegexSyntaxError that names the problem.
 * The source is compiled on its own (not pasted into `^(?:...)$`), so `a)|(b` is refused
 * instead of escaping the anchors; matching then requires the whole value (`testExact`).
 */
export function compileAnchoredRegex(source: string): AnchoredRegex {
  if (source.length > MAX_REGEX_LENGTH) throw new RegexSyntaxError(source, `longer than ${MAX_REGEX_LENGTH} characters`);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new RegexSyntaxError(source, message.replace(/^error parsing regexp: /, ''));
  }
  return { source, test: (value: string) => compiled.testExact(value) };
}

/** Why a regular expression is not valid RE2 (the syntax of Alertmanager's matchers), or null. */
export function regexError(source: string): string | null {
  try {
    compileAnchoredRegex(source);
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
 * One criterion of a rule: a string for equality, or one of
 * `{regex}`, `{not}`, `{notRegex}`. Regexes are RE2, anchored at both ends, like Alertmanager's.
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
