import { MatchCriteria, SilenceMatcher } from '@sentryhub/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anchoredRegex, matchCriteria, selectRule } from './matching';
import { silenceMatches, silenceState } from './silences';

/** Regex-ish sources: random text mixed with regex syntax, so many compile and some do not. */
const regexSource = fc.oneof(
  fc.string(),
  fc.stringMatching(/^[a-z0-9.*+?|()[\]{}^$\\-]{0,12}$/),
  fc.constantFrom('(a+)+$', 'web-.*', 'host-[0-9]+', '(prod|staging)', '.*', ''),
);
const criterion = fc.oneof(fc.string(), fc.record({ regex: regexSource }), fc.record({ not: fc.string() }), fc.record({ notRegex: regexSource }));
const labels = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 200 }), fc.constant('a'.repeat(5_000) + '!')), { maxKeys: 6 });

describe('matching never throws for what the schemas accept (fast-check)', () => {
  it('rule criteria', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), criterion, { maxKeys: 4 }), labels, (raw, labelSet) => {
        const parsed = MatchCriteria.safeParse(raw);
        if (!parsed.success) return;
        const started = Date.now();
        const result = matchCriteria(parsed.data, labelSet);
        expect(typeof result.matched).toBe('boolean');
        selectRule([{ name: 'r', priority: 0, isActive: true, matchCriteria: parsed.data }], labelSet);
        expect(Date.now() - started).toBeLessThan(10_000);
      }),
      { numRuns: 3_000 },
    );
  });

  it('silence matchers', () => {
    const matcher = fc.record({ name: fc.string({ maxLength: 8 }), value: fc.oneof(regexSource, fc.string()), isEqual: fc.boolean(), isRegex: fc.boolean() });
    fc.assert(
      fc.property(fc.array(matcher, { maxLength: 4 }), labels, (raw, labelSet) => {
        const matchers = raw.flatMap((m) => {
          const parsed = SilenceMatcher.safeParse(m);
          return parsed.success ? [parsed.data] : [];
        });
        const silence = { id: 1, matchers, startsAt: new Date(0), endsAt: new Date(8.64e15) };
        const started = Date.now();
        expect(typeof silenceMatches(silence, labelSet, new Date())).toBe('boolean');
        expect(typeof silenceState([silence], labelSet, new Date()).silenced).toBe('boolean');
        expect(Date.now() - started).toBeLessThan(10_000);
      }),
      { numRuns: 3_000 },
    );
  });
});

/**
 * Simple patterns on which RE2 (Go) and JS RegExp are both defined and mean the same: literals,
 * classes, `.`, concatenation, alternation, groups, `*` `+` `?` `{m,n}` (greedy and lazy). A
 * group takes only bounded quantifiers: under `*` or `+` JS RegExp (the backtracking side of
 * the comparison) could take minutes, which is the very thing RE2 is here to avoid.
 */
const QUANTIFIERS = ['', '', '*', '+', '?', '{2}', '{1,3}', '{0,2}', '*?', '+?'];
const BOUNDED_QUANTIFIERS = ['', '', '?', '{2}', '{1,2}', '{0,2}', '??'];
const simplePattern: fc.Arbitrary<string> = fc
  .letrec<{ piece: string; seq: string; alt: string }>((tie) => ({
    piece: fc.oneof(
      { maxDepth: 2, depthIdentifier: 'group', withCrossShrink: true },
      fc
        .tuple(fc.constantFrom('a', 'b', 'c', '.', '[ab]', '[^a]', '[a-c]', '\\d', '\\w', '-', '0', '1', '\\.'), fc.constantFrom(...QUANTIFIERS))
        .map(([atom, q]) => atom + q),
      fc.tuple(fc.constantFrom('(', '(?:'), tie('alt'), fc.constantFrom(...BOUNDED_QUANTIFIERS)).map(([open, inner, q]) => `${open}${inner})${q}`),
    ),
    seq: fc.array(tie('piece'), { minLength: 1, maxLength: 3 }).map((pieces) => pieces.join('')),
    alt: fc.array(tie('seq'), { minLength: 1, maxLength: 2 }).map((seqs) => seqs.join('|')),
  }))
  // Short, so that JS RegExp stays quick.
  .alt.filter((pattern) => pattern.length <= 32);
const simpleValue = fc.stringMatching(/^[-abc01.]{0,10}$/);

describe('RE2 and JS RegExp agree on simple patterns (fast-check)', () => {
  it('anchoredRegex(p).test(v) === /^(?:p)$/.test(v)', () => {
    let matched = 0;
    let checked = 0;
    fc.assert(
      fc.property(simplePattern, fc.array(simpleValue, { minLength: 1, maxLength: 8 }), (pattern, values) => {
        const js = new RegExp(`^(?:${pattern})$`);
        const re2 = anchoredRegex(pattern);
        for (const value of values) {
          const expected = js.test(value);
          expect(re2.test(value), `${pattern} on "${value}"`).toBe(expected);
          checked += 1;
          if (expected) matched += 1;
        }
      }),
      { numRuns: 1_000 },
    );
    console.log(`RE2 vs RegExp: ${checked} values, ${matched} matches`);
    // Not a vacuous agreement on "no match": a fair share of the cases match.
    expect(matched).toBeGreaterThan(checked / 50);
  });
});
