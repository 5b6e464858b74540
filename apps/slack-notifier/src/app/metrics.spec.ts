import { Registry } from '@sentryhub/service-runtime';
import { describe, expect, it } from 'vitest';
import { boundedLabel, MAX_CHANNEL_LABELS, slackMetrics } from './metrics';

describe('Slack metrics label bounds', () => {
  it('keeps the first values as they are and counts every later one as "other"', () => {
    const label = boundedLabel(2);
    expect(['#a', '#b', '#c', '#a', '#d', '#b'].map(label)).toEqual(['#a', '#b', 'other', '#a', 'other', '#b']);
  });

  it(`the latency histogram has at most ${MAX_CHANNEL_LABELS} channel series plus "other", and loses no observation`, async () => {
    const registry = new Registry();
    const metrics = slackMetrics(registry);
    const channels = Array.from({ length: MAX_CHANNEL_LABELS + 25 }, (_, index) => `#alerts-${index}`);
    for (const channel of channels) metrics.deliveryLatency.observe({ channel }, 0.2);
    // A channel that already has its series keeps it.
    metrics.deliveryLatency.observe({ channel: '#alerts-0' }, 0.2);

    const histogram = (await registry.getMetricsAsJSON()).find((metric) => metric.name === 'sentryhub_slack_delivery_latency_seconds');
    const values = (histogram?.values ?? []) as { metricName?: string; labels: Record<string, string | number>; value: number }[];
    const counts = new Map(
      values
        .filter((value) => value.metricName === 'sentryhub_slack_delivery_latency_seconds_count')
        .map((value) => [String(value.labels['channel']), value.value]),
    );
    expect(counts.size).toBe(MAX_CHANNEL_LABELS + 1);
    expect(counts.get('other')).toBe(25);
    expect(counts.get('#alerts-0')).toBe(2);
    expect(counts.has(`#alerts-${MAX_CHANNEL_LABELS}`)).toBe(false);
    expect([...counts.values()].reduce((sum, count) => sum + count, 0)).toBe(channels.length + 1);
  });
});
