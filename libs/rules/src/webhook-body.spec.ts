import { describe, expect, it } from 'vitest';
import {
  receiverParamPlaceholder,
  renderWebhookBody,
  sampleWebhookSnapshots,
  WEBHOOK_PRESET_IDS,
  WEBHOOK_PRESETS,
  webhookContext,
  webhookRuleProblems,
  withReceiverParams,
} from './webhook-body';

const receivers = new Map<string, readonly string[]>([
  ['pd', ['routingKey']],
  ['plain', []],
]);
const options = { externalUrl: 'http://sentryhub.example' };

describe('webhook bodies', () => {
  it('every preset renders valid JSON for firing and resolved samples whose labels hold quotes, backslashes and newlines', () => {
    for (const id of WEBHOOK_PRESET_IDS) {
      for (const sample of sampleWebhookSnapshots()) {
        const rendered = renderWebhookBody(
          WEBHOOK_PRESETS[id].template,
          webhookContext(sample.group, sample.instance, { name: 'pd', params: ['routingKey'] }, options),
        );
        expect(rendered.ok, `${id} ${sample.instance.status}`).toBe(true);
      }
    }
  });

  it('a bare {{ value }} is escaped inside a JSON string; | json writes the whole value', () => {
    const [firing] = sampleWebhookSnapshots();
    if (!firing) throw new Error('no sample');
    const context = webhookContext(firing.group, firing.instance, { name: 'plain', params: [] }, options);
    const rendered = renderWebhookBody('{"note": "{{ labels.note }}", "labels": {{ labels | json }}}', context);
    if (!rendered.ok) throw new Error(rendered.error);
    expect(JSON.parse(rendered.body)).toEqual({ note: firing.group.labels['note'], labels: firing.group.labels });
  });

  it('params are placeholders until sent, then JSON-escaped values', () => {
    const body = `{"k": "${receiverParamPlaceholder('routingKey')}"}`;
    expect(JSON.parse(withReceiverParams(body, { routingKey: 'a"b\\c' }))).toEqual({ k: 'a"b\\c' });
  });

  it('names what keeps a rule from being saved', () => {
    expect(webhookRuleProblems({ bodyTemplate: null, preset: 'pagerduty', receiver: 'pd' }, receivers, options)).toEqual([]);
    expect(webhookRuleProblems({ bodyTemplate: '{"a": "{{ summary }}"}', preset: null, receiver: 'plain' }, receivers, options)).toEqual([]);
    expect(webhookRuleProblems({ bodyTemplate: '{"a": {{ summary }}}', preset: null, receiver: 'plain' }, receivers, options)).toEqual([
      { path: 'bodyTemplate', message: expect.stringMatching(/^the template does not render valid JSON: .*\(sample firing alert\)$/) },
    ]);
    expect(webhookRuleProblems({ bodyTemplate: '{% include "x" %}', preset: null, receiver: 'plain' }, receivers, options)[0]?.message).toMatch(
      /template does not parse: .*include/,
    );
    expect(webhookRuleProblems({ bodyTemplate: null, preset: 'pagerduty', receiver: 'plain' }, receivers, options)).toEqual([
      { path: 'receiver', message: 'the pagerduty preset needs receiver params routingKey, which receiver "plain" does not have' },
    ]);
    expect(webhookRuleProblems({ bodyTemplate: null, preset: 'slack', receiver: 'plain' }, receivers, options)[0]).toEqual({
      path: 'preset',
      message: 'unknown preset "slack" (one of pagerduty, teams, opsgenie, alertmanager)',
    });
    expect(webhookRuleProblems({ bodyTemplate: null, preset: null, receiver: 'nope' }, receivers, options).map((problem) => problem.path)).toEqual([
      'receiver',
      'bodyTemplate',
    ]);
  });
});
