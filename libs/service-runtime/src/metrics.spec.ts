import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from './metrics';

/** One scrape (prom-client collects the event-loop figures together, then starts them afresh). */
const scrape = async (registry: ReturnType<typeof createMetricsRegistry>) =>
  new Map((await registry.getMetricsAsJSON()).map((metric) => [metric.name, metric.values[0]]));

describe('createMetricsRegistry', () => {
  it('samples the event loop often enough that a 300 ms block shows in its lag, labelled by service', async () => {
    const registry = createMetricsRegistry('metrics-test');
    // Let the sampler take a few samples of an idle loop, then block the loop.
    await new Promise((resolve) => setTimeout(resolve, 350));
    const blockedUntil = Date.now() + 300;
    while (Date.now() < blockedUntil);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const metrics = await scrape(registry);
    expect(metrics.get('nodejs_eventloop_lag_max_seconds')?.value).toBeGreaterThan(0.15);
    expect(metrics.get('nodejs_eventloop_lag_p99_seconds')?.labels).toEqual({ service: 'metrics-test' });
  });
});
