import { buildBrokerConfig, connectWithRetry, DEDICATED_PUBLISH_COMPONENT, PublishError, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, loadConfig, rabbitmqUrls, Readiness, serviceLifecycle } from '@sentryhub/service-runtime';
import { buildGateway } from './app/app';
import { GatewayConfig, intakeAuthProblem } from './app/config';

const config = loadConfig(GatewayConfig);
// Open intake is a decision, not a default: one line naming the variables, exit 1.
const authProblem = intakeAuthProblem(config);
if (authProblem) {
  process.stderr.write(`invalid configuration: ${authProblem}\n`);
  process.exit(1);
}
const logger = createLogger('webhook-gateway', config.LOG_LEVEL);
// 'broker': rascal's connection (topology); DEDICATED_PUBLISH_COMPONENT: the confirm channel intake publishes on.
const readiness = new Readiness(['broker', DEDICATED_PUBLISH_COMPONENT]);
const registry = createMetricsRegistry('webhook-gateway');
if (config.WEBHOOK_TOKENS.length === 0) logger.warn('anonymous intake (WEBHOOK_ALLOW_ANONYMOUS=true): anyone who reaches the port can post alerts');
let messaging: Messaging | null = null;
// SIGTERM or SIGINT: stop taking requests, close the broker, exit 0 (libs/service-runtime).
const lifecycle = serviceLifecycle(logger);

// The HTTP server listens at once; until the broker is connected intake answers 503.
const app = await buildGateway({
  logger,
  readiness,
  registry,
  tokens: config.WEBHOOK_TOKENS,
  allowAnonymous: config.WEBHOOK_ALLOW_ANONYMOUS,
  bodyLimitBytes: config.BODY_LIMIT_BYTES,
  intakeMaxFutureMs: config.INTAKE_MAX_FUTURE,
  resolveTimeoutMs: config.RESOLVE_TIMEOUT,
  coalescing: {
    maxAlerts: config.GATEWAY_COALESCE_MAX_ALERTS,
    maxBytes: config.GATEWAY_COALESCE_MAX_BYTES,
    maxWaitMs: config.GATEWAY_COALESCE_MAX_WAIT_MS,
    maxInFlight: config.GATEWAY_COALESCE_MAX_IN_FLIGHT,
    maxWaitingRequests: config.GATEWAY_MAX_WAITING_REQUESTS,
    maxWaitingBytes: config.GATEWAY_MAX_WAITING_BYTES,
  },
  messaging: {
    publish: (...args) => {
      if (!messaging) return Promise.reject(new PublishError('not connected to RabbitMQ yet', 'disconnected'));
      return messaging.publish(...args);
    },
  },
});

lifecycle.onStop({ name: 'http', run: () => app.close() }, { name: 'broker', run: async () => messaging?.shutdown() });

await app.listen({ port: config.PORT, host: config.HOST });
messaging = await connectWithRetry(
  buildBrokerConfig({
    url: rabbitmqUrls(config),
    consumes: [],
    retryDelayMs: config.RABBITMQ_RETRY_DELAY * 1000,
    retryDelaysMs: config.MESSAGE_RETRY_DELAYS_MS,
    publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
  }),
  {
    logger,
    retryDelaysMs: config.MESSAGE_RETRY_DELAYS_MS,
    dedicatedPublishChannel: true,
    status: readiness,
    registry,
    publishTimeoutMs: config.PUBLISH_TIMEOUT_MS,
    retryDelayMs: config.RABBITMQ_RETRY_DELAY * 1000,
    stopped: lifecycle.stopping,
  },
);
