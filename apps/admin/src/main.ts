import { fileURLToPath } from 'node:url';
import { createDb, watchDatabase } from '@sentryhub/db';
import { buildBrokerConfig, connectWithRetry, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, handleShutdown, loadConfig, rabbitmqUrl, Readiness } from '@sentryhub/service-runtime';
import { apiKeyStore } from './app/api-keys';
import { buildAdmin } from './app/app';
import { AdminConfig } from './app/config';

const config = loadConfig(AdminConfig);
const logger = createLogger('admin', config.LOG_LEVEL);
const readiness = new Readiness(['database', 'broker']);
const registry = createMetricsRegistry('admin');
const db = createDb(config.DATABASE_URL, { maxConnections: config.DATABASE_POOL_SIZE, applicationName: 'admin' });
const keys = apiKeyStore(db);
let messaging: Messaging | null = null;

const app = await buildAdmin({
  logger,
  db,
  keys,
  messaging: () => messaging,
  readiness,
  registry,
  slackEndpoint: config.SLACK_INTERNAL_ENDPOINT,
  defaultChannel: config.SLACK_DEFAULT_CHANNEL,
  // Beside main.js when bundled (dist/apps/admin/public), src/public when run from source.
  publicDir: fileURLToPath(new URL('./public/', import.meta.url)),
});

handleShutdown(logger, [
  { name: 'http', run: () => app.close() },
  { name: 'broker', run: async () => messaging?.shutdown() },
  { name: 'database', run: () => db.destroy() },
]);

await app.listen({ port: config.PORT, host: config.HOST });
await watchDatabase(db, readiness, logger);
if (config.ADMIN_BOOTSTRAP_KEY && (await keys.ensureBootstrap(config.ADMIN_BOOTSTRAP_KEY))) logger.info('created the bootstrap admin API key from ADMIN_BOOTSTRAP_KEY');
messaging = await connectWithRetry(buildBrokerConfig({ url: rabbitmqUrl(config), consumes: [], retryDelayMs: config.RABBITMQ_RETRY_DELAY * 1000 }), {
  logger,
  status: readiness,
  registry,
  publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
  retryDelayMs: config.RABBITMQ_RETRY_DELAY * 1000,
});
