import { Counter, Gauge, Histogram, type Registry } from '@sentryhub/service-runtime';

/**
 * At most this many distinct Slack channels get a series of their own in the latency
 * histogram: channels come from rules and alert labels, and every label value is a series
 * Prometheus keeps. Channels seen after that are counted under `other`.
 */
export const MAX_CHANNEL_LABELS = 50;
export const OTHER_LABEL = 'other';

/**
 * A label value from data: the first `limit` distinct values pass as they are, later ones
 * become `other`, so the series of a metric stay bounded however many values traffic brings.
 */
export function boundedLabel(limit: number, other = OTHER_LABEL): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= limit) return other;
    seen.add(value);
    return value;
  };
}

export function slackMetrics(registry: Registry) {
  const channelLabel = boundedLabel(MAX_CHANNEL_LABELS);
  const deliveryLatency = new Histogram({
    name: 'sentryhub_slack_delivery_latency_seconds',
    help: `From the alert processor's processing of a change to Slack's \`ok\` for its notification, by channel (the first ${MAX_CHANNEL_LABELS} channels seen; later ones as "${OTHER_LABEL}")`,
    labelNames: ['channel'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers: [registry],
  });
  const metrics = {
    notifications: new Counter({
      name: 'sentryhub_slack_notifications_total',
      help: 'Slack notifications settled, by final status (sent, failed, suppressed)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    requests: new Counter({
      name: 'sentryhub_slack_requests_total',
      help: 'Messages posted to the Slack endpoint (a digest is one), by result (sent, rejected, retry)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    retries: new Counter({
      name: 'sentryhub_slack_retries_total',
      help: 'Notifications whose delivery failed transiently (429, 5xx, network, timeout) and that the broker retries later',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'sentryhub_slack_rate_limited_total',
      help: 'HTTP 429 answers from the Slack endpoint (Slack itself or the nginx proxy limit_req)',
      registers: [registry],
    }),
    digests: new Counter({
      name: 'sentryhub_slack_digests_total',
      help: 'Digest messages delivered: several notifications that waited for one channel, sent as one message',
      registers: [registry],
    }),
    digestNotifications: new Counter({
      name: 'sentryhub_slack_digest_notifications_total',
      help: 'Notifications delivered inside a digest message',
      registers: [registry],
    }),
    templateFailures: new Counter({
      name: 'sentryhub_slack_template_failures_total',
      help: 'Notifications whose rule template failed to render and that got the safe default text',
      registers: [registry],
    }),
    deliveryLatency: {
      observe: (labels: { channel: string }, seconds: number) => deliveryLatency.observe({ channel: channelLabel(labels.channel) }, seconds),
    },
    changesHeld: new Gauge({
      name: 'sentryhub_slack_changes_held',
      help: 'Changes of alert.processed messages being handled (prepared, or waiting for their channel slot); at most NOTIFIER_MAX_PENDING_CHANGES, or one larger message',
      registers: [registry],
    }),
    changesWaiting: new Gauge({
      name: 'sentryhub_slack_changes_waiting',
      help: 'Changes of delivered messages waiting, unprepared, for NOTIFIER_MAX_PENDING_CHANGES to have room',
      registers: [registry],
    }),
  };
  // Every series exists from the start, so a dashboard's rate() sees the first increment.
  for (const status of ['sent', 'failed', 'suppressed']) metrics.notifications.inc({ status }, 0);
  for (const result of ['sent', 'rejected', 'retry']) metrics.requests.inc({ result }, 0);
  for (const counter of [metrics.retries, metrics.rateLimited, metrics.digests, metrics.digestNotifications, metrics.templateFailures]) counter.inc(0);
  return metrics;
}

export type SlackMetrics = ReturnType<typeof slackMetrics>;
