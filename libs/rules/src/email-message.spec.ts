import { describe, expect, it } from 'vitest';
import { composeEmail, composeGroupEmail } from './email-message';
import { groupKeyOf } from './notification-policy';

const at = '2026-12-06T10:00:00.000Z';
const entry = (status: 'firing' | 'resolved', instance: string) => ({
  status,
  labels: { alertname: 'HighCPU', team: 'ops', instance },
  annotations: {},
  startsAt: at,
  endsAt: status === 'resolved' ? '2026-12-06T10:05:00.000Z' : null,
  text: `${instance} <${status}>`,
});
const key = groupKeyOf(['alertname', 'team'], { alertname: 'HighCPU', team: 'ops' }) ?? '';
const rule = (subject: string, body: string) => ({ name: 'cpu', subject_template: subject, body_template: body });

describe('composeEmail', () => {
  const change = {
    group: {
      id: 1,
      fingerprint: 'f',
      name: 'DiskFull',
      labels: { alertname: 'DiskFull' },
      severity: 'critical' as const,
      instance: 'db-1',
      source: 'webhook',
      status: 'firing' as const,
      firingCount: 1,
      silenced: false,
      silencedUntil: null,
      acknowledged: false,
    },
    instance: { id: 2, status: 'firing' as const, startsAt: at, endsAt: null, annotations: {}, generatorURL: null, resolutionType: null },
  };

  it('renders the subject as one line and the body as text and as escaped HTML', () => {
    const email = composeEmail(rule('{{ alert_group.name }}\r\nBcc: x@example.com', '<b>{{ alert_group.instance }}</b>\nline 2'), change);
    expect(email.subject).toBe('DiskFull Bcc: x@example.com');
    expect(email.text).toBe('<b>db-1</b>\nline 2');
    expect(email.html).toContain('&lt;b&gt;db-1&lt;/b&gt;\nline 2');
    expect(email.templateError).toBeNull();
  });

  it('says which template failed and still gives an email', () => {
    const email = composeEmail(rule('{{ alert_group.name }}', '{% if %}'), change);
    expect(email.templateError).not.toBeNull();
    expect(email.text).not.toBe('');
  });
});

describe('composeGroupEmail', () => {
  const entries = [entry('firing', 'web-1'), entry('firing', 'web-2'), entry('resolved', 'web-3')];

  it('titles a per-alert group email as Alertmanager does and lists each alert’s own body', () => {
    const email = composeGroupEmail(rule('{{ alert_group.name }}', '{{ alert_group.instance }}'), key, entries);
    expect(email).toMatchObject({ subject: '[FIRING:2, RESOLVED:1] HighCPU (team=ops)', rendered: 'per-alert', templateError: null });
    expect(email.text.split('\n')).toEqual(['[FIRING:2, RESOLVED:1] HighCPU (team=ops)', '• web-1 <firing>', '• web-2 <firing>', '• web-3 <resolved>']);
    expect(email.html).toContain('web-3 &lt;resolved&gt;');
  });

  it('renders group templates once with the group, the subject as one line', () => {
    const email = composeGroupEmail(
      rule('{{ firing_count }} firing\nin {{ group_labels.team }}', '{% for a in alerts %}{{ a.labels.instance }};{% endfor %}'),
      key,
      entries,
    );
    expect(email).toMatchObject({ subject: '2 firing in ops', text: 'web-1;web-2;web-3;', rendered: 'group', templateError: null });
  });

  it('falls back to the title when the group subject template renders nothing, saying so', () => {
    const email = composeGroupEmail(rule('{% if firing_count > 99 %}many{% endif %}', '{{ alert_group.instance }}'), key, entries);
    expect(email.subject).toBe('[FIRING:2, RESOLVED:1] HighCPU (team=ops)');
    expect(email.templateError).not.toBeNull();
  });
});
