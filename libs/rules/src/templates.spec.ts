import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH, renderOrFallback, renderTemplate, templateContext, templateError } from './templates';

const group: GroupSnapshot = {
  id: 7,
  fingerprint: 'd2aeefc389ca7746',
  name: 'HighCPU',
  labels: { alertname: 'HighCPU', severity: 'critical', instance: 'host-1' },
  severity: 'critical',
  instance: 'host-1',
  source: 'webhook',
  status: 'firing',
  firingCount: 3,
  silenced: false,
  silencedUntil: null,
  acknowledged: false,
};
const instance: InstanceSnapshot = {
  id: 11,
  status: 'firing',
  startsAt: '2026-11-26T08:00:00Z',
  endsAt: null,
  annotations: { summary: 'CPU above 90%' },
  generatorURL: null,
  resolutionType: null,
};

describe('templates', () => {
  it('renders the template context with Liquid', () => {
    const text = renderTemplate(
      '{{ status | upcase }} {{ alert_group.name }} on {{ labels.instance }} ({{ alert_group.firing_count }}x): {{ summary }} / {{ description }}',
      templateContext(group, instance),
    );
    expect(text).toBe('FIRING HighCPU on host-1 (3x): CPU above 90% / No description provided.');
  });

  it('falls back to the group name when there is no summary annotation', () => {
    expect(renderTemplate('{{ summary }}', templateContext(group, { ...instance, annotations: {} }))).toBe('HighCPU');
  });

  it('reports syntax errors when a template is validated', () => {
    expect(templateError('{{ alert_group.name }')).toMatch(/output .* not closed|not closed/i);
    expect(templateError('{% if status %}open')).toMatch(/not closed/i);
    expect(templateError('{{ labels.instance | upcase }}')).toBeNull();
  });

  it('sends a safe default message that names the failure when rendering fails', () => {
    const outcome = renderOrFallback('{{ summary | no_such_filter }}', templateContext(group, instance), 'ops-rule');
    expect(outcome.failed).toBe(true);
    expect(outcome.text).toContain('template of rule "ops-rule" failed to render');
    expect(outcome.text).toContain('HighCPU');
  });

  it("keeps messages under Slack's limit", () => {
    const text = renderTemplate('{% for i in (1..5000) %}0123456789{% endfor %}', templateContext(group, instance));
    expect(text.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(text.endsWith('(truncated)')).toBe(true);
  });
});
