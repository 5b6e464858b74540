/**
 * Every exchange, routing key and queue name of docs/contracts.md §4. Names are contracts:
 * outside tools rely on them, so they live here once and nowhere else.
 */
export const EXCHANGES = {
  alerts: 'alerts',
  notifications: 'notifications',
  audit: 'audit',
  deadLetter: 'dead-letter',
} as const;
export type ExchangeName = (typeof EXCHANGES)[keyof typeof EXCHANGES];

export const ALERT_SOURCES = ['webhook', 'api', 'external'] as const;
export type AlertSource = (typeof ALERT_SOURCES)[number];

export const ALERT_STATUSES = ['firing', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const ROUTING_KEYS = {
  alertReceived: (source: AlertSource) => `alert.received.${source}` as const,
  alertProcessed: (status: AlertStatus) => `alert.processed.${status}` as const,
  audit: (entity: string, action: string) => `audit.${entity}.${action}`,
  allAlertsReceived: 'alert.received.*',
  allAlertsProcessed: 'alert.processed.*',
  allAudit: 'audit.#',
} as const;

/** Work queues: durable quorum queues named `<app>.<purpose>`. */
export const QUEUES = {
  alertProcessorAlertsReceived: 'alert-processor.alerts-received',
  slackNotifierAlertsProcessed: 'slack-notifier.alerts-processed',
  emailNotifierAlertsProcessed: 'email-notifier.alerts-processed',
  webhookNotifierAlertsProcessed: 'webhook-notifier.alerts-processed',
  adminAuditEvents: 'admin.audit-events',
} as const;
export type WorkQueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** The external intake queue; its name is configurable, this is the default. */
export const DEFAULT_EXTERNAL_QUEUE = 'sentryhub_alerts_external';

/** Every queue's dead letters go to `<queue>.dead`, bound to `dead-letter` by the queue name. */
export const deadLetterQueueName = (queue: string) => `${queue}.dead`;

/**
 * Delayed retries: a transient failure is republished to `<queue>.retry.<n>`, which holds it
 * for its TTL and then dead-letters it back to the work queue. Growing delays, then dead-letter.
 */
export const RETRY_DELAYS_MS = [1_000, 5_000, 30_000, 120_000] as const;
export const retryQueueName = (queue: string, attempt: number) => `${queue}.retry.${attempt}`;

/** Headers set on a dead-lettered message: why it failed, and where in the body. */
export const HEADERS = {
  error: 'x-error',
  errorPath: 'x-error-path',
  originalExchange: 'x-original-exchange',
  originalRoutingKey: 'x-original-routing-key',
  originalQueue: 'x-original-queue',
  retryCount: 'x-retry-count',
} as const;
