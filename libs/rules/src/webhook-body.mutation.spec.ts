import { describe, expect, it } from 'vitest';
import {
  ALERTMANAGER_ZERO_TIME,
  receiverParamPlaceholder,
  renderWebhookBody,
  sampleWebhookSnapshots,
  webhookContext,
  webhookRuleProblems,
} from './webhook-body';

/** What a webhook template sees for one alert, and what keeps a webhook rule from being saved. */

const options = { externalUrl: 'http://sentryhub.example' };
const [firingSample, resolvedSample] = sampleWebhookSnapshots();
if (!firingSample || !resolvedSample) throw new Error('no samples');

describe('webhookContext', () => {
  it('describes a firing alert in Alertmanager shape: zero endsAt, counts, keys, receiver params as placeholders', () => {
    const group = { ...firingSample.group, id: 12, fingerprint: 'abcdef0123456789' };
    const instance = { ...firingSample.instance, id: 34 };
    const context = webhookContext(group, instance, { name: 'pd', params: ['routingKey', 'region'] }, options);
    expect(context['alerts']).toEqual([
      {
        status: 'firing',
        labels: group.labels,
        annotations: instance.annotations,
        startsAt: instance.startsAt,
        endsAt: ALERTMANAGER_ZERO_TIME,
        generatorURL: instance.generatorURL,
        fingerprint: 'abcdef0123456789',
      },
    ]);
    expect(context).toMatchObject({
      receiver: { name: 'pd', params: { routingKey: receiverParamPlaceholder('routingKey'), region: receiverParamPlaceholder('region') } },
      dedup_key: 'sentryhub-12-34',
      firing_count: 1,
      resolved_count: 0,
      group_key: '{}:abcdef0123456789',
      group_labels: group.labels,
      common_labels: group.labels,
      common_annotations: instance.annotations,
      external_url: 'http://sentryhub.example',
      severity: group.severity,
    });
    expect(receiverParamPlaceholder('routingKey')).toBe('${SENTRYHUB_PARAM:routingKey}');
  });

  it('gives a resolved alert its endsAt (startsAt when none is known) and counts it as resolved', () => {
    const resolved = webhookContext(resolvedSample.group, resolvedSample.instance, { name: 'plain', params: [] }, options);
    expect(resolved).toMatchObject({ firing_count: 0, resolved_count: 1, receiver: { name: 'plain', params: {} } });
    expect((resolved['alerts'] as { endsAt: string }[])[0]?.endsAt).toBe('2026-01-01T10:30:00.000Z');
    const noEnd = webhookContext(resolvedSample.group, { ...resolvedSample.instance, endsAt: null }, { name: 'plain', params: [] }, options);
    expect((noEnd['alerts'] as { endsAt: string }[])[0]?.endsAt).toBe(resolvedSample.instance.startsAt);
  });

  it('writes an empty generatorURL when the alert has none', () => {
    const context = webhookContext(firingSample.group, { ...firingSample.instance, generatorURL: null }, { name: 'plain', params: [] }, options);
    expect((context['alerts'] as { generatorURL: string }[])[0]?.generatorURL).toBe('');
  });
});

describe('renderWebhookBody', () => {
  it('reports a template that fails while rendering, with the engine error', () => {
    const context = webhookContext(firingSample.group, firingSample.instance, { name: 'plain', params: [] }, options);
    const rendered = renderWebhookBody('{"a": "{% for i in (1..100000000) %}{{ i }}{% endfor %}"}', context);
    expect(rendered.ok).toBe(false);
    if (!rendered.ok) expect(rendered.error).toMatch(/^the template failed to render: \S/);
  });
});

describe('webhookRuleProblems', () => {
  const receivers = new Map<string, readonly string[]>([
    ['zeta', []],
    ['alpha', ['routingKey']],
  ]);

  it('names the configured receivers, sorted and quoted, when the rule names another', () => {
    expect(webhookRuleProblems({ bodyTemplate: '{}', preset: null, receiver: 'nope' }, receivers, options)).toEqual([
      { path: 'receiver', message: 'receiver "nope" is not configured (WEBHOOK_RECEIVERS_FILE names "alpha", "zeta")' },
    ]);
    expect(webhookRuleProblems({ bodyTemplate: '{}', preset: null, receiver: 'nope' }, new Map(), options)).toEqual([
      { path: 'receiver', message: 'receiver "nope" is not configured (WEBHOOK_RECEIVERS_FILE names no receivers)' },
    ]);
  });

  it('does not ask for preset params when the rule brings its own template', () => {
    expect(webhookRuleProblems({ bodyTemplate: '{"k": "{{ dedup_key }}"}', preset: 'pagerduty', receiver: 'zeta' }, receivers, options)).toEqual([]);
  });

  it('renders the template with the receiver params as placeholders', () => {
    expect(
      webhookRuleProblems(
        { bodyTemplate: '{"k": {{ receiver.params.routingKey | json }}, "n": {{ receiver.name | json }}}', preset: null, receiver: 'alpha' },
        receivers,
        options,
      ),
    ).toEqual([]);
  });

  it('says which sample alert a template fails for', () => {
    const problems = webhookRuleProblems(
      { bodyTemplate: '{% if status == "resolved" %}not json{% else %}{}{% endif %}', preset: null, receiver: 'zeta' },
      receivers,
      options,
    );
    expect(problems).toEqual([
      { path: 'bodyTemplate', message: expect.stringMatching(/^the template does not render valid JSON: .*\(sample resolved alert\)$/) },
    ]);
  });
});

describe('sampleWebhookSnapshots', () => {
  it('samples a firing and a resolved episode whose label holds every character JSON must escape', () => {
    const [firing, resolved] = sampleWebhookSnapshots();
    expect(firing?.instance).toMatchObject({ status: 'firing', endsAt: null });
    expect(resolved?.instance.status).toBe('resolved');
    expect(resolved?.instance.endsAt).not.toBeNull();
    const note = firing?.group.labels['note'] ?? '';
    for (const character of ['"', '\\', '\n', '\t']) expect(note).toContain(character);
    expect(firing?.instance.annotations['summary']).toContain('"');
  });
});
