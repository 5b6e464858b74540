import type { LabelSet } from '@sentryhub/contracts';
import { anchoredRegex } from './matching';
import type { SilenceMatcher } from './silences';

/**
 * Label matchers in Alertmanager's text syntax, parsed as Alertmanager 0.25 parses them
 * (`pkg/labels/parse.go`: what amtool sends, what `filter` takes): `{a="b", c=~"d.*"}` and the
 * bare `a=b`, `a!=b`, `a=~re`, `a!~re`. Values may be double-quoted; inside them `\"`, `\n` and
 * `\\` are escapes and any other backslash is literal. Regexes are RE2, anchored at both ends,
 * evaluated by `anchoredRegex` like every other matcher in SentryHub.
 */

export class MatcherParseError extends Error {
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
    this.name = 'MatcherParseError';
  }
}

/** Go's `\s` (RE2): ASCII space, tab, newline, form feed, carriage return; no vertical tab. */
const MATCHER = /^[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*([\s\S]*?)[\t\n\f\r ]*$/;
const LABEL_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const OPERATORS = { '=': [true, false], '!=': [false, false], '=~': [true, true], '!~': [false, true] } as const;
/** Go's unicode.IsSpace, which strings.TrimSpace uses. */
const GO_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const TRIM = new RegExp(`^${GO_SPACE}+|${GO_SPACE}+$`, 'g');
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export type MatcherOperator = keyof typeof OPERATORS;

export const operatorOf = (matcher: Pick<SilenceMatcher, 'isEqual' | 'isRegex'>): MatcherOperator =>
  matcher.isRegex ? (matcher.isEqual ? '=~' : '!~') : matcher.isEqual ? '=' : '!=';

/** A regex value must compile (RE2 syntax, through anchoredRegex); the error says why not. */
function checkRegex(value: string, input: string): void {
  try {
    anchoredRegex(value);
  } catch (error) {
    throw new MatcherParseError(
      `invalid regular expression ${JSON.stringify(value)} in matcher ${JSON.stringify(input)}: ${error instanceof Error ? error.message : String(error)}`,
      input,
    );
  }
}

/** One matcher: `name op value`, the value optionally double-quoted. */
export function parseMatcher(input: string): SilenceMatcher {
  const parts = MATCHER.exec(input);
  if (!parts) {
    throw new MatcherParseError(
      `bad matcher format ${JSON.stringify(input)}: expected a label name ([a-zA-Z_:][a-zA-Z0-9_:]*), an operator (=, !=, =~ or !~) and a value, e.g. severity="critical"`,
      input,
    );
  }
  const [, name = '', op = '=', raw = ''] = parts;
  let rawValue = raw;
  let expectTrailingQuote = false;
  if (rawValue.startsWith('"')) {
    rawValue = rawValue.slice(1);
    expectTrailingQuote = true;
  }
  if (LONE_SURROGATE.test(rawValue)) throw new MatcherParseError(`matcher value is not valid UTF-8: ${raw}`, input);

  const unquotedQuote = () => new MatcherParseError(`matcher value contains an unescaped double quote: ${raw} (write \\" inside a quoted value)`, input);
  let value = '';
  let escaped = false;
  for (let i = 0; i < rawValue.length; i++) {
    const c = rawValue[i] ?? '';
    const last = i === rawValue.length - 1;
    if (escaped) {
      escaped = false;
      if (c === 'n') value += '\n';
      else if (c === '"' || c === '\\') value += c;
      else value += `\\${c}`; // a spurious escape: the backslash is literal
      continue;
    }
    if (c === '\\') {
      if (!last) escaped = true;
      else value += '\\';
    } else if (c === '"') {
      if (!expectTrailingQuote || !last) throw unquotedQuote();
      expectTrailingQuote = false;
    } else {
      value += c;
    }
  }
  if (expectTrailingQuote) throw unquotedQuote();

  const [isEqual, isRegex] = OPERATORS[op as MatcherOperator];
  if (isRegex) checkRegex(value, input);
  return { name, value, isEqual, isRegex };
}

/**
 * A comma-separated list, optionally in braces; commas inside double quotes do not separate, a
 * trailing comma is allowed. An empty input (or `{}`) is an empty list.
 */
export function parseMatchers(input: string): SilenceMatcher[] {
  let s = input.startsWith('{') ? input.slice(1) : input;
  if (s.endsWith('}')) s = s.slice(0, -1);
  const tokens: string[] = [];
  let insideQuotes = false;
  let escaped = false;
  let token = '';
  for (const c of s) {
    if (c === ',' && !insideQuotes) {
      tokens.push(token);
      token = '';
      continue;
    }
    if (c === '"') {
      if (!escaped) insideQuotes = !insideQuotes;
      else escaped = false;
    } else if (c === '\\') {
      escaped = !escaped;
    } else if (c !== ',') {
      escaped = false;
    }
    token += c;
  }
  const rest = token.replace(TRIM, '');
  if (rest !== '') tokens.push(rest);
  return tokens.map(parseMatcher);
}

/** A matcher as Alertmanager prints it: `name="value"`, the value escaped so that it parses back. */
export function formatMatcher(matcher: SilenceMatcher): string {
  if (!LABEL_NAME.test(matcher.name)) throw new MatcherParseError(`invalid label name ${JSON.stringify(matcher.name)}`, matcher.name);
  const value = matcher.value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
  return `${matcher.name}${operatorOf(matcher)}"${value}"`;
}

export const formatMatchers = (matchers: readonly SilenceMatcher[]) => `{${matchers.map(formatMatcher).join(', ')}}`;

/** Whether one matcher holds for a label value ("" when the label is missing). */
export function matcherMatchesValue(matcher: SilenceMatcher, value: string): boolean {
  const matches = matcher.isRegex ? anchoredRegex(matcher.value).test(value) : value === matcher.value;
  return matcher.isEqual ? matches : !matches;
}

/**
 * The API's `filter` on alerts, as Alertmanager applies it: every matcher must hold, except that
 * `a=""` (or `a=~""`) holds when `a` is missing and `a!=""` (or `a!~""`) holds when `a` is present.
 */
export function filterMatches(matchers: readonly SilenceMatcher[], labels: LabelSet): boolean {
  return matchers.every((matcher) => {
    const present = Object.hasOwn(labels, matcher.name);
    if (matcher.value === '' && present !== matcher.isEqual) return true;
    return matcherMatchesValue(matcher, present ? (labels[matcher.name] ?? '') : '');
  });
}
