import { describe, expect, it } from 'vitest';
import {
  decisionReason,
  inhibitionOf,
  inhibitionPredicates,
  inhibits,
  matchersHold,
  needsInhibitionCheck,
  timersFor,
  type InhibitRule,
  type PolicyRule,
  type Route,
} from './notification-policy';

/** Inhibition edges, the reasons and timers each decision gives, and when a notifier may skip the inhibition queries. */

const eq = (name: string, value: string) => ({ name, value, isEqual: true, isRegex: false });
const rule = (fields: Partial<PolicyRule> = {}): PolicyRule => ({
  id: 1,
  name: 'r',
  priority: 0,
  isActive: true,
  matchCriteria: {},
  sendResolved: false,
  continue: false,
  ...fields,
});
const inhibitRule: InhibitRule = {
  id: 5,
  name: 'node down',
  sourceMatchers: [eq('alertname', 'NodeDown')],
  targetMatchers: [eq('severity', 'warning')],
  equal: ['host'],
};
const now = new Date('2026-11-26T12:00:00.000Z');

describe('inhibition', () => {
  it('needs every matcher to hold', () => {
    expect(matchersHold([eq('a', '1'), eq('b', '2')], { a: '1', b: '3' })).toBe(false);
    expect(matchersHold([eq('a', '1'), eq('b', '2')], { a: '1', b: '2' })).toBe(true);
  });

  it('a group never inhibits itself, even with labels that match both sides', () => {
    const labels = { alertname: 'NodeDown', severity: 'warning', host: 'h1' };
    expect(
      inhibits(
        { ...inhibitRule, sourceMatchers: [eq('alertname', 'NodeDown')], targetMatchers: [] },
        { groupId: 3, labels },
        { groupId: 3, labels: { severity: 'warning', host: 'h1' } },
      ),
    ).toBe(false);
    expect(inhibits({ ...inhibitRule, targetMatchers: [] }, { groupId: 3, labels }, { groupId: 4, labels: { severity: 'warning', host: 'h1' } })).toBe(true);
  });

  it('skips a rule whose target matchers do not hold and finds the next one', () => {
    const other: InhibitRule = { id: 6, name: null, sourceMatchers: [eq('alertname', 'NodeDown')], targetMatchers: [eq('severity', 'info')], equal: [] };
    const source = { groupId: 1, labels: { alertname: 'NodeDown', host: 'h1' } };
    expect(inhibitionOf([inhibitRule, other], [source], { groupId: 2, labels: { severity: 'info', host: 'h2' } })).toEqual({
      ruleId: 6,
      ruleName: null,
      sourceGroupId: 1,
    });
    expect(inhibitionOf([inhibitRule], [source], { groupId: 2, labels: { severity: 'info', host: 'h1' } })).toBeNull();
  });

  it('offers the target check the database query asks', () => {
    expect(inhibitionPredicates.targetHolds(inhibitRule, { severity: 'warning' })).toBe(true);
    expect(inhibitionPredicates.targetHolds(inhibitRule, { severity: 'critical' })).toBe(false);
    expect(inhibitionPredicates.inhibits).toBe(inhibits);
  });
});

describe('needsInhibitionCheck', () => {
  const route = (...applied: PolicyRule[]): Route<PolicyRule> => ({ applied, stoppedAt: null, trace: [] });

  it('a firing needs it when any rule applies; a resolved only when a rule sends resolved notices', () => {
    expect(needsInhibitionCheck(route(rule()), 'firing')).toBe(true);
    expect(needsInhibitionCheck(route(), 'firing')).toBe(false);
    expect(needsInhibitionCheck(route(rule()), 'resolved')).toBe(false);
    expect(needsInhibitionCheck(route(rule(), rule({ id: 2, sendResolved: true })), 'resolved')).toBe(true);
  });
});

describe('decisions in words and the timers they ask for', () => {
  it('says until when a silence holds, if known', () => {
    expect(decisionReason({ rule: rule(), action: 'suppressed', reason: 'silenced', silencedUntil: '2026-11-26T13:00:00.000Z' })).toBe(
      'silenced until 2026-11-26T13:00:00.000Z',
    );
    expect(decisionReason({ rule: rule(), action: 'suppressed', reason: 'silenced', silencedUntil: null })).toBe('silenced');
  });

  it('escalates only with both the target and the delay', () => {
    expect(timersFor({ rule: rule({ escalateTo: 2, escalateAfterMs: null }), action: 'send' }, 'firing', now)).toEqual([]);
    expect(timersFor({ rule: rule({ escalateTo: null, escalateAfterMs: 60_000 }), action: 'send' }, 'firing', now)).toEqual([]);
    expect(timersFor({ rule: rule({ escalateTo: 2, escalateAfterMs: 60_000 }), action: 'send' }, 'firing', now)).toEqual([
      { kind: 'escalation', ruleId: 1, dueAt: new Date('2026-11-26T12:01:00.000Z'), sequence: 0 },
    ]);
  });

  it('asks for nothing after a skip', () => {
    expect(timersFor({ rule: rule(), action: 'skip', reason: 'resolved-not-wanted' }, 'firing', now)).toEqual([]);
  });
});
