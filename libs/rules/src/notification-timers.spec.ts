import { describe, expect, it } from 'vitest';
import {
  composeGroupMessage,
  groupContext,
  groupKeyOf,
  groupLabelsOf,
  groupTitle,
  heldRecheckAt,
  timersFor,
  timerVerdict,
  type EpisodeState,
  type PolicyRule,
} from './notification-policy';

const now = new Date('2026-12-01T12:00:00.000Z');
const at = (ms: number) => new Date(now.getTime() + ms);
const rule = (extra: Partial<PolicyRule> = {}): PolicyRule => ({
  id: 7,
  name: 'ops',
  priority: 0,
  isActive: true,
  matchCriteria: {},
  sendResolved: true,
  continue: false,
  ...extra,
});
const episode = (extra: Partial<EpisodeState> = {}): EpisodeState => ({
  firing: true,
  acknowledged: false,
  silence: { silenced: false, until: null },
  inhibition: null,
  ...extra,
});
const inhibition = { ruleId: 1, ruleName: 'node', sourceGroupId: 9 };

describe('timersFor', () => {
  it('a told firing starts the repeats (sequence 1) and the escalation of its rule', () => {
    expect(timersFor({ rule: rule({ repeatIntervalMs: 60_000, escalateTo: 8, escalateAfterMs: 300_000 }), action: 'send' }, 'firing', now)).toEqual([
      { kind: 'repeat', ruleId: 7, dueAt: at(60_000), sequence: 1 },
      { kind: 'escalation', ruleId: 7, dueAt: at(300_000), sequence: 0 },
    ]);
  });

  it('a rule without repeatInterval or escalation asks for nothing; a resolved change never does', () => {
    expect(timersFor({ rule: rule(), action: 'send' }, 'firing', now)).toEqual([]);
    expect(timersFor({ rule: rule({ repeatIntervalMs: 60_000 }), action: 'send' }, 'resolved', now)).toEqual([]);
    expect(timersFor({ rule: rule({ escalateTo: 8, escalateAfterMs: null }), action: 'send' }, 'firing', now)).toEqual([]);
  });

  it("a grouped rule's repeat is its group's (one per rule and group key, from the alert's labels); its escalation stays the alert's", () => {
    const grouped = rule({ repeatIntervalMs: 60_000, escalateTo: 8, escalateAfterMs: 300_000, groupBy: ['team', 'alertname'] });
    const labels = { alertname: 'HighCPU', team: 'ops', instance: 'web-1' };
    expect(timersFor({ rule: grouped, action: 'send' }, 'firing', now, 30_000, labels)).toEqual([
      {
        kind: 'repeat',
        ruleId: 7,
        dueAt: at(60_000),
        sequence: 1,
        groupKey: JSON.stringify([
          ['alertname', 'HighCPU'],
          ['team', 'ops'],
        ]),
      },
      { kind: 'escalation', ruleId: 7, dueAt: at(300_000), sequence: 0 },
    ]);
    // Another alert of the same group asks for the same timer.
    expect(timersFor({ rule: grouped, action: 'send' }, 'firing', now, 30_000, { ...labels, instance: 'web-2' })[0]).toEqual(
      timersFor({ rule: grouped, action: 'send' }, 'firing', now, 30_000, labels)[0],
    );
    // Without groupBy the repeat is the alert's, whatever the labels.
    expect(timersFor({ rule: rule({ repeatIntervalMs: 60_000, groupBy: null }), action: 'send' }, 'firing', now, 30_000, labels)).toEqual([
      { kind: 'repeat', ruleId: 7, dueAt: at(60_000), sequence: 1 },
    ]);
    // A grouped rule's held-back firing waits as any other.
    expect(timersFor({ rule: grouped, action: 'inhibited', by: inhibition }, 'firing', now, 30_000, labels)).toEqual([
      { kind: 'silence_end', ruleId: 7, dueAt: at(30_000), sequence: 0 },
    ]);
  });

  it('a held-back firing waits for the end of its silence, or the recheck, whichever is first', () => {
    const silenced = (until: Date | null) =>
      timersFor({ rule: rule(), action: 'suppressed', reason: 'silenced', silencedUntil: until?.toISOString() ?? null }, 'firing', now, 30_000);
    expect(silenced(at(5_000))).toEqual([{ kind: 'silence_end', ruleId: 7, dueAt: at(5_000), sequence: 0 }]);
    expect(silenced(at(3_600_000))).toEqual([{ kind: 'silence_end', ruleId: 7, dueAt: at(30_000), sequence: 0 }]);
    expect(silenced(null)).toEqual([{ kind: 'silence_end', ruleId: 7, dueAt: at(30_000), sequence: 0 }]);
    expect(timersFor({ rule: rule(), action: 'inhibited', by: inhibition }, 'firing', now, 30_000)).toEqual([
      { kind: 'silence_end', ruleId: 7, dueAt: at(30_000), sequence: 0 },
    ]);
  });
});

describe('heldRecheckAt', () => {
  it('never lies in the past', () => {
    expect(heldRecheckAt(at(-5_000), now, 30_000)).toEqual(now);
  });
});

describe('timerVerdict', () => {
  it('ends every timer of a resolved episode', () => {
    for (const kind of ['repeat', 'escalation', 'silence_end'] as const)
      expect(timerVerdict(kind, episode({ firing: false }), now)).toEqual({ action: 'drop', reason: 'resolved' });
  });

  it('acknowledging ends repeats and escalations, but a held-back firing is still told', () => {
    expect(timerVerdict('repeat', episode({ acknowledged: true }), now)).toEqual({ action: 'drop', reason: 'acknowledged' });
    expect(timerVerdict('escalation', episode({ acknowledged: true }), now)).toEqual({ action: 'drop', reason: 'acknowledged' });
    expect(timerVerdict('silence_end', episode({ acknowledged: true }), now)).toEqual({ action: 'tell' });
  });

  it('waits while a silence or an inhibition holds', () => {
    expect(timerVerdict('silence_end', episode({ silence: { silenced: true, until: at(10_000) } }), now, 30_000)).toEqual({
      action: 'wait',
      until: at(10_000),
      reason: 'silenced',
    });
    expect(timerVerdict('repeat', episode({ silence: { silenced: true, until: at(3_600_000) } }), now, 30_000)).toEqual({
      action: 'wait',
      until: at(30_000),
      reason: 'silenced',
    });
    expect(timerVerdict('escalation', episode({ inhibition }), now, 30_000)).toEqual({ action: 'wait', until: at(30_000), reason: 'inhibited' });
  });

  it('tells a firing, unacknowledged episode that nothing holds', () => {
    for (const kind of ['repeat', 'escalation', 'silence_end'] as const) expect(timerVerdict(kind, episode(), now)).toEqual({ action: 'tell' });
  });
});

describe('grouping', () => {
  const entry = (status: 'firing' | 'resolved', labels: Record<string, string>, text: string, annotations: Record<string, string> = {}) => ({
    status,
    labels,
    annotations,
    startsAt: now.toISOString(),
    endsAt: null,
    text,
  });

  it('keys a group by the groupBy labels, in any order, a missing one as ""; no groupBy: no group', () => {
    const labels = { alertname: 'HighCPU', team: 'ops', instance: 'a' };
    expect(groupKeyOf(['team', 'alertname'], labels)).toBe(groupKeyOf(['alertname', 'team'], { ...labels, instance: 'b' }));
    expect(groupKeyOf(['team'], labels)).not.toBe(groupKeyOf(['team'], { ...labels, team: 'db' }));
    expect(groupLabelsOf(groupKeyOf(['team', 'zone'], labels) ?? '')).toEqual({ team: 'ops' });
    expect(groupKeyOf(null, labels)).toBeNull();
  });

  it('titles a message as Alertmanager does and gives templates the group context', () => {
    const key = groupKeyOf(['alertname', 'team'], { alertname: 'HighCPU', team: 'ops' }) ?? '';
    const { text, context } = composeGroupMessage(key, [
      entry('resolved', { alertname: 'HighCPU', team: 'ops', instance: 'c' }, 'c resolved', { runbook: 'r' }),
      entry('firing', { alertname: 'HighCPU', team: 'ops', instance: 'a' }, 'a firing', { runbook: 'r', summary: 'x' }),
      entry('firing', { alertname: 'HighCPU', team: 'ops', instance: 'b' }, 'b firing', { runbook: 'r' }),
    ]);
    expect(text.split('\n')).toEqual(['[FIRING:2, RESOLVED:1] HighCPU (team=ops)', '• a firing', '• b firing', '• c resolved']);
    expect(context).toMatchObject({
      group_labels: { alertname: 'HighCPU', team: 'ops' },
      common_labels: { alertname: 'HighCPU', team: 'ops' },
      common_annotations: { runbook: 'r' },
      firing_count: 2,
      resolved_count: 1,
    });
    expect(context.alerts.map((alert) => alert.labels['instance'])).toEqual(['c', 'a', 'b']);
    expect(
      groupTitle(
        groupContext(groupKeyOf(['team'], { team: 'ops' }) ?? '', [
          entry('resolved', { alertname: 'A', team: 'ops' }, ''),
          entry('resolved', { alertname: 'B', team: 'ops' }, ''),
        ]),
      ),
    ).toBe('[RESOLVED:2] (team=ops)');
  });
});
