import { describe, expect, it } from 'vitest';
import { compareRules, matchCriteria, selectRule } from './matching';
import { matcherHolds, silenceMatches, silenceState, type ActiveSilence } from './silences';

/** Silence windows and matchers at their edges; why a rule criterion fails, in words; the rule order on ties. */

const t = (hhmm: string) => new Date(`2026-11-26T${hhmm}:00.000Z`);
const silence = (id: number, startsAt: string, endsAt: string, matchers: ActiveSilence['matchers']): ActiveSilence => ({
  id,
  matchers,
  startsAt: t(startsAt),
  endsAt: t(endsAt),
});
const envProd = [{ name: 'env', value: 'prod', isEqual: true, isRegex: false }];

describe('silences', () => {
  it('an equality matcher compares the value literally, never as a regex', () => {
    expect(matcherHolds({ name: 'host', value: 'a.c', isEqual: true, isRegex: false }, { host: 'abc' })).toBe(false);
    expect(matcherHolds({ name: 'host', value: 'a.c', isEqual: true, isRegex: false }, { host: 'a.c' })).toBe(true);
    expect(matcherHolds({ name: 'host', value: 'a.c', isEqual: false, isRegex: false }, { host: 'abc' })).toBe(true);
  });

  it('is active from startsAt included to endsAt excluded', () => {
    const s = silence(1, '10:00', '11:00', envProd);
    expect(silenceMatches(s, { env: 'prod' }, new Date(t('10:00').getTime() - 1))).toBe(false);
    expect(silenceMatches(s, { env: 'prod' }, t('10:00'))).toBe(true);
    expect(silenceMatches(s, { env: 'prod' }, new Date(t('11:00').getTime() - 1))).toBe(true);
    expect(silenceMatches(s, { env: 'prod' }, t('11:00'))).toBe(false);
  });

  it('needs every matcher, and silences nothing without matchers', () => {
    const two = silence(1, '10:00', '11:00', [...envProd, { name: 'team', value: 'db', isEqual: true, isRegex: false }]);
    expect(silenceMatches(two, { env: 'prod', team: 'web' }, t('10:30'))).toBe(false);
    expect(silenceMatches(two, { env: 'prod', team: 'db' }, t('10:30'))).toBe(true);
    expect(silenceMatches(silence(2, '10:00', '11:00', []), { env: 'prod' }, t('10:30'))).toBe(false);
  });

  it('is silenced until the latest end among the matching silences only', () => {
    const silences = [
      silence(1, '10:00', '12:00', envProd),
      silence(2, '10:00', '11:00', envProd),
      silence(3, '10:00', '13:00', [{ name: 'env', value: 'dev', isEqual: true, isRegex: false }]),
    ];
    expect(silenceState(silences, { env: 'prod' }, t('10:30'))).toEqual({ silenced: true, until: t('12:00') });
    expect(silenceState([silences[1] as ActiveSilence, silences[0] as ActiveSilence], { env: 'prod' }, t('10:30'))).toEqual({
      silenced: true,
      until: t('12:00'),
    });
    expect(silenceState(silences, { env: 'test' }, t('10:30'))).toEqual({ silenced: false, until: null });
  });
});

describe('rule criteria', () => {
  it('says why each kind of criterion fails', () => {
    const reason = (criteria: Parameters<typeof matchCriteria>[0], labels: Record<string, string>) => {
      const result = matchCriteria(criteria, labels);
      return result.matched ? null : result.failure.reason;
    };
    expect(reason({ env: 'prod' }, {})).toBe('expected "prod", got no such label');
    expect(reason({ env: 'prod' }, { env: 'dev' })).toBe('expected "prod", got "dev"');
    expect(reason({ env: 'prod' }, { env: 'prod' })).toBeNull();
    expect(reason({ env: { not: 'dev' } }, { env: 'dev' })).toBe('must not be "dev"');
    expect(reason({ env: { regex: 'pr.*' } }, { env: 'dev' })).toBe('"dev" does not match /pr.*/');
    expect(reason({ env: { regex: '(' } }, { env: 'dev' })).toMatch(/^invalid regular expression \/\(\/: \S/);
    expect(reason({ env: { notRegex: '(' } }, { env: 'dev' })).toMatch(/^invalid regular expression \/\(\/: \S/);
    expect(reason({ env: { notRegex: 'd.*' } }, { env: 'dev' })).toBe('"dev" must not match /d.*/');
    expect(reason({ env: { notRegex: 'd.*' } }, { env: 'prod' })).toBeNull();
  });
});

describe('rule order', () => {
  const rule = (name: string, priority: number, id: number) => ({ id, name, priority, isActive: true, matchCriteria: {} });

  it('orders equal priorities by name, and equal names as equal', () => {
    expect(compareRules(rule('a', 1, 1), rule('b', 1, 2))).toBeLessThan(0);
    expect(compareRules(rule('b', 1, 1), rule('a', 1, 2))).toBeGreaterThan(0);
    expect(compareRules(rule('a', 1, 1), rule('a', 1, 2))).toBe(0);
    expect(compareRules(rule('z', 2, 1), rule('a', 1, 2))).toBeLessThan(0);
  });

  it('keeps the first of two rules that tie completely', () => {
    const first = rule('same', 1, 1);
    const second = rule('same', 1, 2);
    expect(selectRule([first, second], {})).toBe(first);
    expect(selectRule([rule('b', 1, 3), rule('a', 1, 4)], {})?.id).toBe(4);
  });
});
