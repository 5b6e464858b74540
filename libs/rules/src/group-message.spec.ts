import { describe, expect, it } from 'vitest';
import { composeGroupMessage, groupKeyOf } from './notification-policy';
import { usesGroupVariables } from './templates';

const at = '2026-12-06T10:00:00.000Z';
const entry = (status: 'firing' | 'resolved', instance: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}) => ({
  status,
  labels: { alertname: 'HighCPU', team: 'ops', instance, ...extra.labels },
  annotations: { runbook: 'https://runbooks/cpu', ...extra.annotations },
  startsAt: at,
  endsAt: status === 'resolved' ? '2026-12-06T10:05:00.000Z' : null,
  text: `${instance} ${status}`,
});
const key = groupKeyOf(['alertname', 'team'], { alertname: 'HighCPU', team: 'ops' }) ?? '';

describe('group templates', () => {
  it('tells a group template (one that reads a group variable) from a per-alert one', () => {
    expect(usesGroupVariables('{% for a in alerts %}{{ a.labels.instance }}{% endfor %}')).toBe(true);
    expect(usesGroupVariables('{{ firing_count }} firing in {{ group_labels.team }}')).toBe(true);
    expect(usesGroupVariables('{{ common_labels.alertname | upcase }}')).toBe(true);
    expect(usesGroupVariables('{{ alert_group.name }} {{ labels.instance }} {{ status }}')).toBe(false);
    // A variable the template assigns itself is not the group's.
    expect(usesGroupVariables('{% assign firing_count = 1 %}{{ firing_count }}')).toBe(false);
  });

  it('renders a group template once with the group context: alerts (status, labels, annotations, startsAt, endsAt), group and common labels, common annotations, counts, title', () => {
    const template = [
      '{{ title }} / {{ status }}',
      '{% for a in alerts %}- {{ a.labels.instance }} {{ a.status }} since {{ a.startsAt }}{% if a.endsAt %} until {{ a.endsAt }}{% endif %} ({{ a.annotations.runbook }})',
      '{% endfor %}{{ firing_count }} firing, {{ resolved_count }} resolved; group {{ group_labels.team }}/{{ group_labels.alertname }}; all {{ common_labels.alertname }}; runbook {{ common_annotations.runbook }}; {{ summary }}',
    ].join('\n');
    const message = composeGroupMessage(key, [entry('firing', 'a'), entry('resolved', 'c'), entry('firing', 'b')], { ruleName: 'ops', source: template });
    expect(message.rendered).toBe('group');
    expect(message.templateError).toBeNull();
    // The alerts as the message lists them: what fires first, then what resolved.
    expect(message.text.split('\n')).toEqual([
      '[FIRING:2, RESOLVED:1] HighCPU (team=ops) / firing',
      `- a firing since ${at} (https://runbooks/cpu)`,
      `- b firing since ${at} (https://runbooks/cpu)`,
      `- c resolved since ${at} until 2026-12-06T10:05:00.000Z (https://runbooks/cpu)`,
      '2 firing, 1 resolved; group ops/HighCPU; all HighCPU; runbook https://runbooks/cpu; HighCPU',
    ]);
  });

  it('uses the resolved template when nothing fires any more, and status says resolved', () => {
    const template = { ruleName: 'ops', source: '{{ firing_count }} firing', resolvedSource: 'all clear: {{ resolved_count }} {{ status }}' };
    expect(composeGroupMessage(key, [entry('resolved', 'a'), entry('resolved', 'b')], template).text).toBe('all clear: 2 resolved');
    expect(composeGroupMessage(key, [entry('resolved', 'a'), entry('firing', 'b')], template).text).toBe('1 firing');
  });

  it("keeps the title plus each alert's text for a per-alert template, or without a rule", () => {
    const expected = ['[FIRING:1, RESOLVED:1] HighCPU (team=ops)', '• a firing', '• b resolved'];
    expect(
      composeGroupMessage(key, [entry('resolved', 'b'), entry('firing', 'a')], { ruleName: 'ops', source: '{{ alert_group.name }} {{ status }}' }),
    ).toMatchObject({ rendered: 'per-alert', templateError: null });
    expect(
      composeGroupMessage(key, [entry('resolved', 'b'), entry('firing', 'a')], { ruleName: 'ops', source: '{{ alert_group.name }}' }).text.split('\n'),
    ).toEqual(expected);
    expect(composeGroupMessage(key, [entry('resolved', 'b'), entry('firing', 'a')]).text.split('\n')).toEqual(expected);
  });

  it('escapes values for Slack, the title included: a label cannot ping the channel', () => {
    const evil = groupKeyOf(['team'], { team: '<!channel>' }) ?? '';
    const alerts = [entry('firing', '<@U1>', { labels: { team: '<!channel>' } })];
    const grouped = composeGroupMessage(evil, alerts, {
      ruleName: 'r',
      source: '{{ title }} {% for a in alerts %}{{ a.labels.instance }}{% endfor %} *bold*',
      escape: 'slack',
    });
    expect(grouped.text).toBe('[FIRING:1] HighCPU (team=&lt;!channel&gt;) &lt;@U1&gt; *bold*');
    const perAlert = composeGroupMessage(evil, alerts, { ruleName: 'r', source: '{{ labels.team }}', escape: 'slack' });
    expect(perAlert.text.split('\n')[0]).toBe('[FIRING:1] HighCPU (team=&lt;!channel&gt;)');
  });

  it('falls back to the per-alert message, saying why, when a group template fails or renders nothing', () => {
    const slow = composeGroupMessage(key, [entry('firing', 'a')], { ruleName: 'ops', source: '{% for i in (1..100000000) %}{{ firing_count }}{% endfor %}' });
    expect(slow.rendered).toBe('per-alert');
    expect(slow.templateError).toMatch(/limit/i);
    expect(slow.text.split('\n')).toEqual([
      expect.stringMatching(/^\[SentryHub\] The group template of rule "ops" could not be used \(.*limit.*\); the group's alerts:$/i),
      '[FIRING:1] HighCPU (team=ops)',
      '• a firing',
    ]);
    const empty = composeGroupMessage(key, [entry('firing', 'a')], { ruleName: 'ops', source: '{% if firing_count > 99 %}many{% endif %}' });
    expect(empty).toMatchObject({ rendered: 'per-alert', templateError: 'the template rendered an empty message' });
  });
});
