import { Counter, type Registry } from '@sentryhub/service-runtime';

export function slackMetrics(registry: Registry) {
  const metrics = {
    notifications: new Counter({
      name: 'sentryhub_slack_notifications_total',
      help: 'Slack notifications settled, by final status (sent, failed, suppressed)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    requests: new Counter({
      name: 'sentryhub_slack_requests_total',
      help: 'Delivery attempts to the Slack endpoint, by result (sent, rejected, retry)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    templateFailures: new Counter({
      name: 'sentryhub_slack_template_failures_total',
      help: 'Notifications whose rule template failed to render and that got the safe default text',
      registers: [registry],
    }),
  };
  // Every series exists from the start, so a dashboard's rate() sees the first increment.
  for (const status of ['sent', 'failed', 'suppressed']) metrics.notifications.inc({ status }, 0);
  for (const result of ['sent', 'rejected', 'retry']) metrics.requests.inc({ result }, 0);
  return metrics;
}

export type SlackMetrics = ReturnType<typeof slackMetrics>;
