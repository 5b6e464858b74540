import { MatchCriteria, SilenceMatcher } from '@sentryhub/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchCriteria, selectRule } from './matching';
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
