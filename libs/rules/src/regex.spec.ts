import { describe, expect, it } from 'vitest';
import { anchoredRegex, matchCriteria, REGEX_CACHE_SIZE, regexCacheSize, RegexSyntaxError } from './matching';
import { matcherHolds } from './silences';

const KIB8 = 8 * 1024;

describe('pathological regexes run in linear time (RE2, re2js)', () => {
  // Against these 8 KiB values a backtracking engine (JS RegExp) takes minutes or far longer.
  const cases: { source: string; value: string; matches: boolean }[] = [
    { source: '(.*.*){1,20}x', value: 'a'.repeat(KIB8), matches: false },
    { source: '(.*.*){1,20}x', value: `${'a'.repeat(KIB8 - 1)}x`, matches: true },
    { source: '.*.*.*.*.*.*.*.*x', value: 'a'.repeat(KIB8), matches: false },
    { source: '.*.*.*.*.*.*.*.*x', value: `${'a'.repeat(KIB8)}!`, matches: false },
    { source: '(a+)+$', value: `${'a'.repeat(KIB8)}!`, matches: false },
    { source: '(a+)+$', value: 'a'.repeat(KIB8), matches: true },
    { source: '(a|a)*b', value: 'a'.repeat(KIB8), matches: false },
    { source: '(a|a)*b', value: `${'a'.repeat(KIB8)}b`, matches: true },
  ];

  it('each completes (timings printed), and the answers are right', () => {
    const started = performance.now();
    for (const { source, value, matches } of cases) {
      const t0 = performance.now();
      // Through every path a user pattern takes: rule criteria (regex, notRegex) and silence matchers.
      expect(matchCriteria({ host: { regex: source } }, { host: value }).matched).toBe(matches);
      expect(matchCriteria({ host: { notRegex: source } }, { host: value }).matched).toBe(!matches);
      expect(matcherHolds({ name: 'host', value: source, isEqual: true, isRegex: true }, { host: value })).toBe(matches);
      expect(matcherHolds({ name: 'host', value: source, isEqual: false, isRegex: true }, { host: value })).toBe(!matches);
      console.log(
        `regex ${source} against ${value.length} characters (${matches ? 'match' : 'no match'}): 4 evaluations in ${(performance.now() - t0).toFixed(1)} ms`,
      );
    }
    const total = performance.now() - started;
    console.log(`all ${cases.length} pathological cases: ${total.toFixed(1)} ms`);
    // Generous for a shared, busy machine: backtracking would take minutes.
    expect(total).toBeLessThan(2_000);
  });
});

describe('anchoredRegex: RE2 syntax and semantics, as Alertmanager (Go regexp) has them', () => {
  it('matches the whole value only', () => {
    expect(anchoredRegex('host-.*').test('host-1')).toBe(true);
    expect(anchoredRegex('host').test('host-1')).toBe(false);
    expect(anchoredRegex('a|ab').test('ab')).toBe(true);
    expect(anchoredRegex('critical|page').test('critical')).toBe(true);
    expect(anchoredRegex('critical|page').test('xcritical')).toBe(false);
    expect(anchoredRegex('').test('')).toBe(true);
    expect(anchoredRegex('').test('x')).toBe(false);
    // `$` at the very end only, as in Go: no match before a trailing newline.
    expect(anchoredRegex('a').test('a\n')).toBe(false);
  });

  it('has Go regexp semantics: `.` not newline, ASCII \\d, flags, named groups, Unicode classes', () => {
    expect(anchoredRegex('a.b').test('a\nb')).toBe(false);
    expect(anchoredRegex('(?s)a.b').test('a\nb')).toBe(true);
    expect(anchoredRegex('\\d+').test('42')).toBe(true);
    expect(anchoredRegex('\\d+').test('\u0664\u0662')).toBe(false);
    expect(anchoredRegex('(?i)prod').test('PROD')).toBe(true);
    expect(anchoredRegex('(?P<env>prod|dev)-\\d').test('dev-1')).toBe(true);
    expect(anchoredRegex('\\pL+').test('Grüße')).toBe(true);
    expect(anchoredRegex('.').test('🔥')).toBe(true);
  });

  it('refuses what RE2 refuses, with a RegexSyntaxError naming the problem', () => {
    for (const [source, problem] of [
      ['(?=a)', 'invalid or unsupported Perl syntax: `(?=`'],
      ['(a)\\1', 'invalid escape sequence: `\\1`'],
      ['a)|(b', 'unexpected ): `a)|(b`'],
      ['a'.repeat(1_001), 'longer than 1000 characters'],
    ] as const) {
      expect(() => anchoredRegex(source)).toThrow(RegexSyntaxError);
      expect(() => anchoredRegex(source)).toThrow(problem);
    }
  });

  it('a stored regex RE2 refuses (hand-written, or saved when regexes were JS) matches nothing and says why', () => {
    const lookahead = '(?=db)db-.*';
    expect(matchCriteria({ host: { regex: lookahead } }, { host: 'db-1' })).toMatchObject({
      matched: false,
      failure: { label: 'host', reason: 'invalid regular expression /(?=db)db-.*/: invalid or unsupported Perl syntax: `(?=`' },
    });
    // notRegex too: the rule must not start matching everything.
    expect(matchCriteria({ host: { notRegex: lookahead } }, { host: 'web-1' }).matched).toBe(false);
    // A silence with such a matcher silences nothing, `=~` and `!~` alike.
    expect(matcherHolds({ name: 'host', value: lookahead, isEqual: true, isRegex: true }, { host: 'db-1' })).toBe(false);
    expect(matcherHolds({ name: 'host', value: lookahead, isEqual: false, isRegex: true }, { host: 'web-1' })).toBe(false);
  });

  it('a label the alert lacks is missing even when its name is an Object.prototype member', () => {
    expect(matchCriteria({ constructor: { regex: '.+' } }, {}).matched).toBe(false);
    expect(matchCriteria({ valueOf: '' }, {})).toMatchObject({ matched: false, failure: { actual: null } });
    expect(matcherHolds({ name: 'toString', value: '', isEqual: true, isRegex: true }, {})).toBe(true);
    expect(matcherHolds({ name: 'toString', value: '', isEqual: true, isRegex: false }, {})).toBe(true);
  });

  it('keeps a bounded cache of compiled patterns, the most recently used kept', () => {
    const kept = anchoredRegex('kept-[0-9]+');
    const evictee = anchoredRegex('evictee-[0-9]+');
    expect(anchoredRegex('evictee-[0-9]+')).toBe(evictee);
    for (let i = 0; i < REGEX_CACHE_SIZE * 2; i += 1) {
      anchoredRegex(`filler-${i}-.*`);
      if (i % 100 === 0) expect(anchoredRegex('kept-[0-9]+')).toBe(kept);
      expect(regexCacheSize()).toBeLessThanOrEqual(REGEX_CACHE_SIZE);
    }
    expect(regexCacheSize()).toBe(REGEX_CACHE_SIZE);
    expect(anchoredRegex('kept-[0-9]+')).toBe(kept);
    // Untouched since, it was evicted: asking again compiles a new one, which works the same.
    const recompiled = anchoredRegex('evictee-[0-9]+');
    expect(recompiled).not.toBe(evictee);
    expect(recompiled.test('evictee-7')).toBe(true);
  });
});
