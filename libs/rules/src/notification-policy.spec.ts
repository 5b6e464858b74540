import { describe, expect, it } from 'vitest';
import { decide, decisionReason, inhibitionOf, inhibits, notificationPolicy, routeAlert, type InhibitRule, type PolicyRule } from './notification-policy';

const rule = (name: string, priority: number, matchCriteria: PolicyRule['matchCriteria'], extra: Partial<PolicyRule> = {}): PolicyRule => ({
  id: priority * 100 + name.length,
  name,
  priority,
  isActive: true,
  matchCriteria,
  sendResolved: true,
  continue: false,
  ...extra,
});

const labels = { alertname: 'DiskFull', team: 'storage', severity: 'critical' };
const quiet = { silence: { silenced: false, until: null }, inhibition: null, firingSentUnder: new Set<number>() };

describe('routeAlert: fan-out with continue', () => {
  const catchAll = rule('catch-all', 0, {});
  const storage = rule('storage', 20, { team: 'storage' });
  const critical = rule('critical', 10, { severity: 'critical' });

  it('without continue the first matching rule (priority, then name) applies alone, as before', () => {
    const route = routeAlert([catchAll, critical, storage], labels);
    expect(route.applied.map((r) => r.name)).toEqual(['storage']);
    expect(route.stoppedAt?.name).toBe('storage');
    expect(route.trace.map((step) => [step.rule.name, step.outcome])).toEqual([
      ['storage', 'applied'],
      ['critical', 'not-reached'],
      ['catch-all', 'not-reached'],
    ]);
  });

  it('with continue the search goes on: every matching rule up to one without continue applies', () => {
    const route = routeAlert([catchAll, critical, { ...storage, continue: true }], labels);
    expect(route.applied.map((r) => r.name)).toEqual(['storage', 'critical']);
    expect(route.stoppedAt?.name).toBe('critical');
    const all = routeAlert(
      [
        { ...catchAll, continue: true },
        { ...critical, continue: true },
        { ...storage, continue: true },
      ],
      labels,
    );
    expect(all.applied.map((r) => r.name)).toEqual(['storage', 'critical', 'catch-all']);
    expect(all.stoppedAt).toBeNull();
  });

  it('a rule that does not match, or is inactive, neither applies nor stops the search', () => {
    const web = rule('web', 30, { team: 'web' });
    const off = rule('off', 25, {}, { isActive: false });
    const route = routeAlert([web, off, critical], labels);
    expect(route.applied.map((r) => r.name)).toEqual(['critical']);
    expect(route.trace[0]).toMatchObject({ outcome: 'no-match', failure: { label: 'team' } });
    expect(route.trace[1]).toMatchObject({ outcome: 'inactive' });
  });

  it('equal priorities are tried by name', () => {
    const b = rule('b', 5, {}, { continue: true });
    const a = rule('a', 5, {}, { continue: true });
    expect(routeAlert([b, a], labels).applied.map((r) => r.name)).toEqual(['a', 'b']);
  });
});

describe('decide', () => {
  const one = rule('one', 2, {}, { continue: true });
  const two = rule('two', 1, {}, { sendResolved: false });

  it('sends for every applied rule when nothing holds the group', () => {
    const result = notificationPolicy({ rules: [one, two], labels, kind: 'firing', ...quiet });
    expect(result.decisions.map((d) => [d.rule.name, d.action])).toEqual([
      ['one', 'send'],
      ['two', 'send'],
    ]);
  });

  it('skips resolved notices of a rule without sendResolved', () => {
    const result = notificationPolicy({ rules: [one, two], labels, kind: 'resolved', ...quiet });
    expect(result.decisions.map((d) => d.action)).toEqual(['send', 'skip']);
    expect(decisionReason(result.decisions[1] ?? { rule: one, action: 'send' })).toMatch(/resolved/);
  });

  it('suppresses a silenced group, but tells the end of an episode whose firing was told under that rule', () => {
    const silence = { silenced: true, until: '2030-01-01T00:00:00.000Z' };
    const firing = notificationPolicy({ rules: [one], labels, kind: 'firing', ...quiet, silence });
    expect(firing.decisions[0]).toMatchObject({ action: 'suppressed', reason: 'silenced', silencedUntil: silence.until });
    const resolvedTold = notificationPolicy({ rules: [one], labels, kind: 'resolved', ...quiet, silence, firingSentUnder: new Set([one.id]) });
    expect(resolvedTold.decisions[0]?.action).toBe('send');
    const resolvedUntold = notificationPolicy({ rules: [one], labels, kind: 'resolved', ...quiet, silence, firingSentUnder: new Set([999]) });
    expect(resolvedUntold.decisions[0]?.action).toBe('suppressed');
  });

  it('marks an inhibited group inhibited, naming the source', () => {
    const inhibition = { ruleId: 7, ruleName: 'node-down', sourceGroupId: 42 };
    const result = decide(routeAlert([one, two], labels), { kind: 'firing', ...quiet, inhibition });
    expect(result.decisions.map((d) => d.action)).toEqual(['inhibited', 'inhibited']);
    expect(result.decisions[0]).toMatchObject({ by: inhibition });
    expect(result.decisions[0] && decisionReason(result.decisions[0])).toBe('inhibited by alert group 42 (inhibit rule "node-down" (7))');
    const told = decide(routeAlert([one], labels), { kind: 'resolved', ...quiet, inhibition, firingSentUnder: new Set([one.id]) });
    expect(told.decisions[0]?.action).toBe('send');
  });

  it('decides nothing when no rule applies', () => {
    expect(notificationPolicy({ rules: [rule('web', 1, { team: 'web' })], labels, kind: 'firing', ...quiet }).decisions).toEqual([]);
  });
});

describe('inhibition (Alertmanager semantics)', () => {
  const m = (name: string, value: string, isRegex = false, isEqual = true) => ({ name, value, isEqual, isRegex });
  const nodeDown: InhibitRule = {
    id: 1,
    name: 'node-down',
    sourceMatchers: [m('alertname', 'NodeDown')],
    targetMatchers: [m('severity', 'warning|info', true)],
    equal: ['instance'],
  };
  const source = { groupId: 1, labels: { alertname: 'NodeDown', instance: 'db-1', severity: 'critical' } };
  const target = { groupId: 2, labels: { alertname: 'DiskSlow', instance: 'db-1', severity: 'warning' } };

  it('a source inhibits a target with equal values of the equal labels', () => {
    expect(inhibits(nodeDown, source, target)).toBe(true);
    expect(inhibitionOf([nodeDown], [source], target)).toEqual({ ruleId: 1, ruleName: 'node-down', sourceGroupId: 1 });
  });

  it('not when an equal label differs, or the target matchers do not hold', () => {
    expect(inhibits(nodeDown, source, { ...target, labels: { ...target.labels, instance: 'db-2' } })).toBe(false);
    expect(inhibits(nodeDown, source, { ...target, labels: { ...target.labels, severity: 'critical' } })).toBe(false);
    expect(inhibitionOf([nodeDown], [{ ...source, labels: { ...source.labels, alertname: 'Other' } }], target)).toBeNull();
  });

  it('a label missing on both sides counts as equal (""), as in Alertmanager', () => {
    const rule: InhibitRule = { ...nodeDown, equal: ['cluster'] };
    expect(inhibits(rule, source, target)).toBe(true);
    expect(inhibits(rule, source, { ...target, labels: { ...target.labels, cluster: 'eu' } })).toBe(false);
  });

  it('an alert never inhibits itself, and two alerts that match both sides do not inhibit each other', () => {
    const both: InhibitRule = { id: 2, name: null, sourceMatchers: [m('team', 'ops')], targetMatchers: [m('team', 'ops')], equal: [] };
    const a = { groupId: 10, labels: { team: 'ops', alertname: 'A' } };
    const b = { groupId: 11, labels: { team: 'ops', alertname: 'B' } };
    expect(inhibits(both, a, a)).toBe(false);
    expect(inhibits(both, a, b)).toBe(false);
    expect(inhibitionOf([both], [a, b], b)).toBeNull();
    // A source that only matches the source side still inhibits a two-sided target.
    const sourceOnly: InhibitRule = { ...both, sourceMatchers: [m('team', 'ops')], targetMatchers: [m('alertname', 'B')] };
    expect(inhibits(sourceOnly, a, b)).toBe(true);
  });
});
