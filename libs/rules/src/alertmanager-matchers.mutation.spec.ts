import { describe, expect, it } from 'vitest';
import { formatMatcher, MatcherParseError, parseMatcher, parseMatchers } from './alertmanager-matchers';

/** Matcher parsing and printing at the edges amtool's syntax has: stray quotes, escapes inside quoted lists, label names. */

const m = (name: string, value: string, isEqual = true, isRegex = false) => ({ name, value, isEqual, isRegex });

describe('parseMatcher', () => {
  it('refuses a closing quote without an opening one, as a MatcherParseError naming the input', () => {
    let caught: unknown;
    try {
      parseMatcher('a=b"');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MatcherParseError);
    expect(caught).toMatchObject({
      name: 'MatcherParseError',
      input: 'a=b"',
      message: 'matcher value contains an unescaped double quote: b" (write \\" inside a quoted value)',
    });
  });
});

describe('parseMatchers', () => {
  it('a backslash before an ordinary character does not escape the closing quote', () => {
    expect(parseMatchers('a="x\\y",b="2"')).toEqual([m('a', 'x\\y'), m('b', '2')]);
  });

  it('ignores trailing white space after the last comma, Go spaces included', () => {
    expect(parseMatchers('a=1, ')).toEqual([m('a', '1')]);
    expect(parseMatchers('{a=1,\u00a0}')).toEqual([m('a', '1')]);
  });

  it('reports a list that starts with a quote as one bad matcher', () => {
    expect(() => parseMatchers('"a=1,b=2')).toThrow(expect.objectContaining({ input: '"a=1,b=2' }));
  });
});

describe('formatMatcher', () => {
  it('refuses a name that is not a whole label name', () => {
    for (const name of ['1a', 'a-', 'a b']) {
      expect(() => formatMatcher(m(name, 'v'))).toThrow(new MatcherParseError(`invalid label name ${JSON.stringify(name)}`, name));
    }
    expect(formatMatcher(m('a:b_1', 'v'))).toBe('a:b_1="v"');
  });

  it('escapes backslashes, newlines and quotes so that the value parses back', () => {
    const matcher = m('note', 'a\\b\nc"d', false);
    const printed = formatMatcher(matcher);
    expect(printed).toBe('note!="a\\\\b\\nc\\"d"');
    expect(parseMatcher(printed)).toEqual(matcher);
  });
});
