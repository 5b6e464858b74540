import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { groupKeyOf } from './notification-policy';
import { ALERTMANAGER_ZERO_TIME, groupDedupKey, renderWebhookBody, WEBHOOK_PRESETS, webhookGroupContext } from './webhook-body';

const entry = (id: number, instance: string, status: 'firing' | 'resolved'): { group: GroupSnapshot; instance: InstanceSnapshot } => ({
  group: {
    id,
    fingerprint: `fp${id}`,
    name: 'HighCPU',
    labels: { alertname: 'HighCPU', team: 'ops', instance },
    severity: 'critical',
    instance,
    source: 'webhook',
    status,
    firingCount: 1,
    silenced: false,
    silencedUntil: null,
    acknowledged: false,
  },
  instance: {
    id: id * 10,
    status,
    startsAt: '2026-12-06T10:00:00.000Z',
    endsAt: status === 'resolved' ? '2026-12-06T10:05:00.000Z' : null,
    annotations: { summary: 'CPU high' },
    generatorURL: null,
    resolutionType: null,
  },
});
const key = groupKeyOf(['alertname', 'team'], { alertname: 'HighCPU', team: 'ops' }) ?? '';
const receiver = { name: 'hook', params: ['routingKey'] };
const options = { externalUrl: 'http://sentryhub.example' };

describe('grouped webhook bodies', () => {
  it("render the Alertmanager preset as Alertmanager's webhook of the whole group", () => {
    const context = webhookGroupContext(7, key, [entry(1, 'a', 'resolved'), entry(2, 'b', 'firing'), entry(3, 'c', 'firing')], receiver, options);
    const rendered = renderWebhookBody(WEBHOOK_PRESETS.alertmanager.template, context);
    if (!rendered.ok) throw new Error(rendered.error);
    const body = JSON.parse(rendered.body);
    expect(body).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'hook',
      groupKey: '{}:{alertname="HighCPU", team="ops"}',
      groupLabels: { alertname: 'HighCPU', team: 'ops' },
      commonLabels: { alertname: 'HighCPU', team: 'ops' },
      commonAnnotations: { summary: 'CPU high' },
      externalURL: 'http://sentryhub.example',
    });
    expect(
      body.alerts.map((alert: { labels: { instance: string }; status: string; endsAt: string; fingerprint: string }) => [
        alert.labels.instance,
        alert.status,
        alert.endsAt,
        alert.fingerprint,
      ]),
    ).toEqual([
      ['b', 'firing', ALERTMANAGER_ZERO_TIME, 'fp2'],
      ['c', 'firing', ALERTMANAGER_ZERO_TIME, 'fp3'],
      ['a', 'resolved', '2026-12-06T10:05:00.000Z', 'fp1'],
    ]);
  });

  it('give PagerDuty one dedup_key per rule and group: triggered while any alert fires, resolved once none does', () => {
    const render = (ruleId: number, groupKey: string, entries: ReturnType<typeof entry>[]) => {
      const rendered = renderWebhookBody(WEBHOOK_PRESETS.pagerduty.template, webhookGroupContext(ruleId, groupKey, entries, receiver, options));
      if (!rendered.ok) throw new Error(rendered.error);
      return JSON.parse(rendered.body) as { event_action: string; dedup_key: string; payload: { summary: string } };
    };
    const trigger = render(7, key, [entry(1, 'a', 'firing'), entry(2, 'b', 'resolved')]);
    const resolve = render(7, key, [entry(1, 'a', 'resolved')]);
    expect([trigger.event_action, resolve.event_action]).toEqual(['trigger', 'resolve']);
    expect(resolve.dedup_key).toBe(trigger.dedup_key);
    expect(trigger.dedup_key).toBe(groupDedupKey(7, key));
    expect(groupDedupKey(8, key)).not.toBe(trigger.dedup_key);
    expect(groupDedupKey(7, groupKeyOf(['team'], { team: 'db' }) ?? '')).not.toBe(trigger.dedup_key);
    expect(trigger.payload.summary).toBe('HighCPU: CPU high');
  });

  it('refuses an empty group', () => {
    expect(() => webhookGroupContext(7, key, [], receiver, options)).toThrow('a group message needs at least one alert');
  });
});
