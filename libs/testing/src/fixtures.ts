/** One alert of an Alertmanager v4 webhook, as Alertmanager sends it (firing, no fingerprint). */
export function webhookAlert(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    status: 'firing',
    labels: { alertname: 'HighCPU', instance: 'host-1', job: 'node', severity: 'critical', team: 'ops' },
    annotations: { summary: 'CPU above 90%' },
    startsAt: '2026-11-26T08:00:00.123456789Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph',
    ...overrides,
  };
}

/** An Alertmanager webhook payload (version 4) around the given alerts. */
export function alertmanagerWebhook(alerts: Record<string, unknown>[] = [webhookAlert()], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '4',
    groupKey: '{}:{alertname="HighCPU"}',
    truncatedAlerts: 0,
    status: alerts.some((alert) => alert['status'] === 'firing') ? 'firing' : 'resolved',
    receiver: 'sentryhub',
    groupLabels: { alertname: 'HighCPU' },
    commonLabels: { alertname: 'HighCPU' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    notification_reason: 'new',
    alerts,
    ...overrides,
  };
}
