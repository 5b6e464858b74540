import { describe, expect, it } from 'vitest';
import { AlertGroupQuery, DeadLetterReplayBody, escalationProblem, InhibitRuleBody, SlackRuleBody } from './admin-api';

/** The per-call logic of the admin API schemas: query transforms, duration refinements, escalation pairing. */

const rule = { name: 'r', messageTemplate: 'x' };
const messages = (result: { success: boolean; error?: { issues: { message: string }[] } }) => (result.error?.issues ?? []).map((issue) => issue.message);

describe('AlertGroupQuery', () => {
  it('reads silenced/acknowledged "true" and "false" as booleans', () => {
    expect(AlertGroupQuery.parse({ silenced: 'true', acknowledged: 'false' })).toMatchObject({ silenced: true, acknowledged: false });
    expect(AlertGroupQuery.parse({ silenced: 'false', acknowledged: 'true' })).toMatchObject({ silenced: false, acknowledged: true });
  });

  it('gives no label filter when none is asked for', () => {
    expect(AlertGroupQuery.parse({}).label).toEqual([]);
  });

  it('splits one label filter at its first "=" (the value may hold more)', () => {
    expect(AlertGroupQuery.parse({ label: 'url=a=b' }).label).toEqual([{ name: 'url', value: 'a=b' }]);
    expect(AlertGroupQuery.parse({ label: 'env=' }).label).toEqual([{ name: 'env', value: '' }]);
  });

  it('keeps repeated label filters in order', () => {
    expect(AlertGroupQuery.parse({ label: ['env=prod', 'team=db'] }).label).toEqual([
      { name: 'env', value: 'prod' },
      { name: 'team', value: 'db' },
    ]);
  });
});

describe('rule durations', () => {
  it('refuses a zero or unparsable repeatInterval/escalateAfter/groupInterval, naming the field', () => {
    for (const field of ['repeatInterval', 'groupInterval'] as const) {
      for (const value of ['0s', '0', 'soon']) {
        const result = SlackRuleBody.safeParse({ ...rule, [field]: value });
        expect(result.success).toBe(false);
        expect(messages(result)).toContain(`${field} must be a duration greater than zero such as 30s, 5m, 4h or 1h30m`);
      }
    }
  });

  it('accepts a positive duration, trimmed', () => {
    expect(SlackRuleBody.parse({ ...rule, repeatInterval: ' 1ms ', groupInterval: '1h30m' })).toMatchObject({ repeatInterval: '1ms', groupInterval: '1h30m' });
  });

  it('accepts a zero groupWait but not a non-duration', () => {
    expect(SlackRuleBody.parse({ ...rule, groupWait: '0s' }).groupWait).toBe('0s');
    const result = SlackRuleBody.safeParse({ ...rule, groupWait: 'later' });
    expect(result.success).toBe(false);
    expect(messages(result)).toEqual(['groupWait must be a duration such as 0s, 30s or 1m']);
  });
});

describe('escalationProblem', () => {
  it('is null with both fields or neither', () => {
    expect(escalationProblem({ escalateTo: null, escalateAfter: null })).toBeNull();
    expect(escalationProblem({ id: 1, escalateTo: 2, escalateAfter: '5m' })).toBeNull();
    expect(escalationProblem({ escalateTo: 2, escalateAfter: '5m' })).toBeNull();
    expect(escalationProblem({ id: 1, escalateTo: null, escalateAfter: null })).toBeNull();
  });

  it('names the missing half', () => {
    expect(escalationProblem({ id: 1, escalateTo: 2, escalateAfter: null })).toBe('escalateAfter is required with escalateTo');
    expect(escalationProblem({ id: 1, escalateTo: null, escalateAfter: '5m' })).toBe('escalateAfter needs escalateTo (the rule to escalate to)');
  });

  it('refuses a rule escalating to itself', () => {
    expect(escalationProblem({ id: 7, escalateTo: 7, escalateAfter: '5m' })).toBe('escalateTo must name another rule, not this one');
  });
});

describe('bodies refined as a whole', () => {
  const matcher = { name: 'alertname', value: 'NodeDown', isRegex: false, isEqual: true };

  it('an inhibit rule refuses a label named twice in equal', () => {
    const body = { sourceMatchers: [matcher], targetMatchers: [matcher] };
    expect(InhibitRuleBody.parse({ ...body, equal: ['host', 'job'] }).equal).toEqual(['host', 'job']);
    expect(messages(InhibitRuleBody.safeParse({ ...body, equal: ['host', 'host'] }))).toEqual(['equal names a label twice']);
  });

  it('a dead-letter replay takes message ids or all, exactly one of them', () => {
    expect(DeadLetterReplayBody.parse({ messageIds: ['m1'] })).toEqual({ messageIds: ['m1'], to: 'queue' });
    expect(DeadLetterReplayBody.parse({ all: true, to: 'exchange' })).toEqual({ all: true, to: 'exchange' });
    for (const body of [{}, { messageIds: ['m1'], all: true }]) {
      expect(messages(DeadLetterReplayBody.safeParse(body))).toEqual(['send either "messageIds": [...] or "all": true']);
    }
  });
});
