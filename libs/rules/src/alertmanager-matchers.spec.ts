import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filterMatches, formatMatcher, formatMatchers, MatcherParseError, parseMatcher, parseMatchers } from './alertmanager-matchers';
import { matcherHolds, type SilenceMatcher } from './silences';

const m = (name: string, value: string, isEqual = true, isRegex = false): SilenceMatcher => ({ name, value, isEqual, isRegex });

describe('parseMatcher (Alertmanager syntax)', () => {
  it('reads the four operators, bare and quoted', () => {
    expect(parseMatcher('a=b')).toEqual(m('a', 'b'));
    expect(parseMatcher('a!=b')).toEqual(m('a', 'b', false));
    expect(parseMatcher('a=~b.*')).toEqual(m('a', 'b.*', true, true));
    expect(parseMatcher('a!~b.*')).toEqual(m('a', 'b.*', false, true));
    expect(parseMatcher('  severity = "critical"  ')).toEqual(m('severity', 'critical'));
    expect(parseMatcher('job=~"node|prom"')).toEqual(m('job', 'node|prom', true, true));
    expect(parseMatcher('a=')).toEqual(m('a', ''));
    expect(parseMatcher('a=""')).toEqual(m('a', ''));
    expect(parseMatcher('name:with_colon=x')).toEqual(m('name:with_colon', 'x'));
  });

  it('unescapes \\" \\n \\\\ and keeps any other backslash', () => {
    expect(parseMatcher(String.raw`a="say \"hi\""`)).toEqual(m('a', 'say "hi"'));
    expect(parseMatcher(String.raw`a="x\ny"`)).toEqual(m('a', 'x\ny'));
    expect(parseMatcher(String.raw`a="back\\slash"`)).toEqual(m('a', 'back\\slash'));
    expect(parseMatcher(String.raw`a=~"\d+"`)).toEqual(m('a', String.raw`\d+`, true, true));
    expect(parseMatcher(String.raw`a=trailing\ `.trimEnd())).toEqual(m('a', 'trailing\\'));
    expect(parseMatcher('a="multi\nline"')).toEqual(m('a', 'multi\nline'));
  });

  it('names the problem in its errors', () => {
    expect(() => parseMatcher('no operator')).toThrow(/bad matcher format "no operator": expected a label name/);
    expect(() => parseMatcher('1abc=x')).toThrow(MatcherParseError);
    expect(() => parseMatcher('=x')).toThrow(/bad matcher format/);
    expect(() => parseMatcher('a="unterminated')).toThrow(/unescaped double quote/);
    expect(() => parseMatcher('a=in"side')).toThrow(/unescaped double quote: in"side/);
    expect(() => parseMatcher('a="x"y"')).toThrow(/unescaped double quote/);
    expect(() => parseMatcher('a=~"(unclosed"')).toThrow(/invalid regular expression "\(unclosed" in matcher/);
    expect(() => parseMatcher('a=\ud800')).toThrow(/not valid UTF-8/);
  });

  it('takes a regex value as it is, and evaluates it anchored', () => {
    const matcher = parseMatcher('instance=~"db-.*"');
    expect(matcherHolds(matcher, { instance: 'db-1' })).toBe(true);
    expect(matcherHolds(matcher, { instance: 'xdb-1' })).toBe(false);
    expect(matcherHolds(parseMatcher('instance=~db'), { instance: 'db-1' })).toBe(false);
  });
});

describe('parseMatchers', () => {
  it('reads braces, commas, spaces and a trailing comma', () => {
    const expected = [m('a', 'b'), m('c', 'd.*', true, true)];
    expect(parseMatchers('{a="b",c=~"d.*"}')).toEqual(expected);
    expect(parseMatchers('a=b, c=~d.*')).toEqual(expected);
    expect(parseMatchers('{ a = "b" , c =~ "d.*" , }')).toEqual(expected);
    expect(parseMatchers('{foo = "bar", dings != "bums", }')).toEqual([m('foo', 'bar'), m('dings', 'bums', false)]);
    expect(parseMatchers('')).toEqual([]);
    expect(parseMatchers('{}')).toEqual([]);
  });

  it('does not split at commas inside quotes, escaped quotes included', () => {
    expect(parseMatchers(String.raw`{quote="She said: \"Hi, ladies! That's gender-neutral…\""}`)).toEqual([
      m('quote', `She said: "Hi, ladies! That's gender-neutral…"`),
    ]);
    expect(parseMatchers('{a="x,y",b=z}')).toEqual([m('a', 'x,y'), m('b', 'z')]);
    expect(parseMatchers('statuscode=~"5.."')).toEqual([m('statuscode', '5..', true, true)]);
  });

  it('refuses an empty matcher between commas, naming it', () => {
    expect(() => parseMatchers('a=b,,c=d')).toThrow(/bad matcher format ""/);
    expect(() => parseMatchers('{a=b, nonsense}')).toThrow(/bad matcher format "\s*nonsense"/);
  });
});

describe('filterMatches (the API filter)', () => {
  const labels = { alertname: 'DiskFull', instance: 'db-1' };
  it('needs every matcher; an empty value means absent for = and present for !=', () => {
    expect(filterMatches(parseMatchers('alertname=DiskFull,instance=~"db-.*"'), labels)).toBe(true);
    expect(filterMatches(parseMatchers('alertname=DiskFull,instance!~"db-.*"'), labels)).toBe(false);
    expect(filterMatches(parseMatchers('team=""'), labels)).toBe(true);
    expect(filterMatches(parseMatchers('instance=""'), labels)).toBe(false);
    expect(filterMatches(parseMatchers('instance!=""'), labels)).toBe(true);
    expect(filterMatches(parseMatchers('team!=""'), labels)).toBe(false);
    expect(filterMatches(parseMatchers('team!=x'), labels)).toBe(true);
    expect(filterMatches([], labels)).toBe(true);
  });
});

describe('properties (fast-check)', () => {
  const name = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,10}$/);
  const plain = fc.record({ name, value: fc.string({ maxLength: 30, unit: 'grapheme' }), isEqual: fc.boolean(), isRegex: fc.constant(false) });
  const regex = fc.record({
    name,
    value: fc.constantFrom('.*', 'db-[0-9]+', '(a|b)', 'x\\.y', '"q"', 'a,b', ''),
    isEqual: fc.boolean(),
    isRegex: fc.constant(true),
  });
  const matcher = fc.oneof(plain, regex);

  it('what formatMatcher prints parses back to the same matcher', () => {
    fc.assert(
      fc.property(matcher, (original) => {
        expect(parseMatcher(formatMatcher(original))).toEqual(original);
      }),
      { numRuns: 2_000 },
    );
  });

  it('a formatted list, in braces, parses back to the same list', () => {
    fc.assert(
      fc.property(fc.array(matcher, { maxLength: 5 }), (list) => {
        expect(parseMatchers(formatMatchers(list))).toEqual(list);
      }),
      { numRuns: 1_000 },
    );
  });

  it('a bare value without quotes, commas, backslashes or edge spaces reads as its quoted form', () => {
    const bare = fc.stringMatching(/^[a-zA-Z0-9._\-/:]{1,20}$/);
    fc.assert(
      fc.property(name, fc.constantFrom('=', '!=', '=~', '!~'), bare, (n, op, value) => {
        expect(parseMatcher(`${n}${op}${value}`)).toEqual(parseMatcher(`${n}${op}"${value}"`));
      }),
      { numRuns: 1_000 },
    );
  });

  it('never throws anything but a MatcherParseError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (input) => {
        try {
          for (const parsed of parseMatchers(input)) expect(parsed.name).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
        } catch (error) {
          expect(error).toBeInstanceOf(MatcherParseError);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('filterMatches agrees with the silence evaluation whenever the value is not empty', () => {
    const labels = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('x', 'db-1', 'a,b', ''), { maxKeys: 3 });
    const nonEmpty = fc.record({
      name: fc.constantFrom('a', 'b', 'c'),
      value: fc.constantFrom('x', 'db-[0-9]+', 'a,b'),
      isEqual: fc.boolean(),
      isRegex: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(nonEmpty, { maxLength: 3 }), labels, (list, ls) => {
        expect(filterMatches(list, ls)).toBe(list.every((one) => matcherHolds(one, ls)));
      }),
    );
  });
});
