import { describe, expect, it } from 'vitest';
import { matchCriteria, selectRule } from './matching';

const labels = { alertname: 'HighCPU', severity: 'critical', team: 'ops', instance: 'host-1' };
const rule = (name: string, priority: number, matchCriteria: Record<string, unknown>, isActive = true) =>
  ({ name, priority, isActive, matchCriteria }) as { name: string; priority: number; isActive: boolean; matchCriteria: never };

describe('matchCriteria', () => {
  it('matches everything with empty criteria', () => {
    expect(matchCriteria({}, labels)).toEqual({ matched: true });
  });

  it('compares equality as strings and names the first failing criterion', () => {
    expect(matchCriteria({ severity: 'critical', team: 'ops' }, labels).matched).toBe(true);
    const result = matchCriteria({ severity: 'critical', team: 'db' }, labels);
    expect(result).toMatchObject({ matched: false, failure: { label: 'team', actual: 'ops' } });
    expect(matchCriteria({ missing: 'x' }, labels)).toMatchObject({ matched: false, failure: { reason: 'expected "x", got no such label' } });
  });

  it('anchors regexes at both ends', () => {
    expect(matchCriteria({ instance: { regex: 'host-.*' } }, labels).matched).toBe(true);
    expect(matchCriteria({ instance: { regex: 'host' } }, labels).matched).toBe(false);
    expect(matchCriteria({ severity: { regex: 'critical|warning' } }, labels).matched).toBe(true);
  });

  it('supports not and notRegex, a missing label counting as empty', () => {
    expect(matchCriteria({ team: { not: 'db' } }, labels).matched).toBe(true);
    expect(matchCriteria({ team: { not: 'ops' } }, labels).matched).toBe(false);
    expect(matchCriteria({ instance: { notRegex: 'db-.*' } }, labels).matched).toBe(true);
    expect(matchCriteria({ instance: { notRegex: 'host-\\d' } }, labels).matched).toBe(false);
    expect(matchCriteria({ env: { notRegex: '.+' } }, labels).matched).toBe(true);
  });
});

describe('selectRule', () => {
  it('picks the highest priority among active matching rules, then the lowest name', () => {
    const rules = [
      rule('b-ops', 10, { team: 'ops' }),
      rule('a-ops', 10, { team: 'ops' }),
      rule('catch-all', 0, {}),
      rule('inactive-top', 100, {}, false),
      rule('db-only', 50, { team: 'db' }),
    ];
    expect(selectRule(rules, labels)?.name).toBe('a-ops');
    expect(selectRule(rules, { alertname: 'Other' })?.name).toBe('catch-all');
  });

  it('returns null when nothing matches', () => {
    expect(selectRule([rule('db-only', 1, { team: 'db' })], labels)).toBeNull();
  });
});
