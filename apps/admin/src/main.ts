import { fileURLToPath } from 'node:url';
import { QUEUES } from '@sentryhub/contracts';
import { createDb, watchDatabase } from '@sentryhub/db';
import { buildBrokerConfig, connectWithRetry, type Messaging, type Subscription } from '@sentryhub/messaging';
import {
  createLogger,
  createMetricsRegistry,
  loadConfig,
  rabbitmqUrl,
  rabbitmqUrls,
  Readiness,
  readWebhookReceivers,
  serviceLifecycle,
  WebhookReceiversError,
  type WebhookReceiversFile,
} from '@sentryhub/service-runtime';
import { apiKeyStore } from './app/api-keys';
import { buildAdmin } from './app/app';
import { subscribeAuditEvents } from './app/audit-consumer';
import { AdminConfig } from './app/config';
import type { ManagementSettings } from './app/rabbitmq-management';

const config = loadConfig(AdminConfig);

/** The receivers file, checked before anything starts: exit 1 naming each problem (its variables are read only by a test send). */
function loadReceivers(): WebhookReceiversFile {
  try {
    return readWebhookReceivers(config.WEBHOOK_RECEIVERS_FILE);
  } catch (error) {
    if (!(error instanceof WebhookReceiversError)) throw error;
    for (const problem of error.problems) process.stderr.write(`invalid configuration: ${problem}\n`);
    process.exit(1);
  }
}
const webhookReceivers = loadReceivers();
const logger = createLogger('admin', config.LOG_LEVEL);
const readiness = new Readiness(['database', 'broker', 'subscriptions']);
const registry = createMetricsRegistry('admin');
const db = createDb(config.DATABASE_URL, {
  maxConnections: config.DATABASE_POOL_SIZE,
  applicationName: 'admin',
  preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
});
const keys = apiKeyStore(db);
const amqpUrl = rabbitmqUrl(config);
let messaging: Messaging | null = null;
let subscription: Subscription | null = null;
// SIGTERM or SIGINT: stop taking requests and audit events, close the broker and the pool, exit 0 (libs/service-runtime).
const lifecycle = serviceLifecycle(logger);

// The management API and the purge/replay connection use the broker's own vhost and, unless
// given their own, its credentials (an empty AMQP path is the default vhost "/").
const broker = new URL(amqpUrl);
const management: ManagementSettings = {
  enabled: config.RABBITMQ_MANAGEMENT_ENABLED,
  url: config.RABBITMQ_MANAGEMENT_URL,
  user: config.RABBITMQ_MANAGEMENT_USER ?? decodeURIComponent(broker.username || 'guest'),
  password: config.RABBITMQ_MANAGEMENT_PASSWORD ?? decodeURIComponent(broker.password || 'guest'),
  vhost: decodeURIComponent(broker.pathname.slice(1)) || '/',
  amqpUrl: rabbitmqUrls(config),
  publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
};

const app = await buildAdmin({
  logger,
  db,
  keys,
  messaging: () => messaging,
  readiness,
  registry,
  slackEndpoint: config.SLACK_INTERNAL_ENDPOINT,
  defaultChannel: config.SLACK_DEFAULT_CHANNEL,
  management,
  intakeMaxFutureMs: config.INTAKE_MAX_FUTURE,
  resolveTimeoutMs: config.RESOLVE_TIMEOUT,
  webhookReceivers,
  webhookExternalUrl: config.WEBHOOK_EXTERNAL_URL,
  // Beside main.js when bundled (dist/apps/admin/public), src/public when run from source.
  publicDir: fileURLToPath(new URL('./public/', import.meta.url)),
});

lifecycle.onStop(
  { name: 'http', run: () => app.close() },
  { name: 'audit consumer', run: async () => subscription?.cancel() },
  { name: 'broker', run: async () => messaging?.shutdown() },
  { name: 'database', run: () => db.destroy() },
);

await app.listen({ port: config.PORT, host: config.HOST });
await watchDatabase(db, readiness, logger);
if (config.ADMIN_BOOTSTRAP_KEY && (await keys.ensureBootstrap(config.ADMIN_BOOTSTRAP_KEY)))
  logger.info('created the bootstrap admin API key from ADMIN_BOOTSTRAP_KEY');
const retryDelayMs = config.RABBITMQ_RETRY_DELAY * 1000;
messaging = await connectWithRetry(
  buildBrokerConfig({
    url: rabbitmqUrls(config),
    consumes: [QUEUES.adminAuditEvents],
    retryDelayMs,
    retryDelaysMs: config.MESSAGE_RETRY_DELAYS_MS,
    publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
  }),
  {
    logger,
    retryDelaysMs: config.MESSAGE_RETRY_DELAYS_MS,
    status: readiness,
    registry,
    publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
    retryDelayMs,
    stopped: lifecycle.stopping,
  },
);
// Audit events of every service (and the admin's own, already stored: kept once) into audit_log.
subscription = await subscribeAuditEvents(messaging, { db, logger, registry });
readiness.ready('subscriptions');
logger.info({ queues: [QUEUES.adminAuditEvents], management: management.enabled }, 'admin started');
