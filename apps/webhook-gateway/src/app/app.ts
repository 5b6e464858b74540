import swagger from '@fastify/swagger';
import type { Messaging } from '@sentryhub/messaging';
import { Counter, createHttpServer, Histogram, healthRoutes, httpErrors, type Logger, type Readiness, type Registry } from '@sentryhub/service-runtime';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { CoalescingPublisher, DEFAULT_COALESCING, type CoalescingOptions } from './coalescing-publisher';
import { intakeRoutes } from './intake-routes';

export interface GatewayDeps {
  logger: Logger;
  messaging: Pick<Messaging, 'publish'>;
  readiness: Readiness;
  registry: Registry;
  tokens: readonly string[];
  bodyLimitBytes: number;
  /** Group commit of concurrent requests; DEFAULT_COALESCING when not given. */
  coalescing?: CoalescingOptions;
}

/** The webhook-gateway HTTP app: intake routes, health, metrics and OpenAPI. */
export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  // The request id is the correlation id of every later log line and message.
  const app = createHttpServer(deps.logger, { bodyLimit: deps.bodyLimitBytes });

  await app.register(httpErrors);
  await app.register(swagger, {
    openapi: { info: { title: 'SentryHub webhook-gateway', version: '1.0.0' } },
    transform: jsonSchemaTransform,
  });
  await app.register(healthRoutes, { readiness: deps.readiness, registry: deps.registry });

  const acceptedAlerts = new Counter({
    name: 'sentryhub_gateway_alerts_accepted_total',
    help: 'Alerts accepted (published and confirmed), by intake source',
    labelNames: ['source'] as const,
    registers: [deps.registry],
  });
  const rejectedRequests = new Counter({
    name: 'sentryhub_gateway_requests_rejected_total',
    help: 'Intake requests answered with 5xx because the broker did not confirm',
    labelNames: ['reason'] as const,
    registers: [deps.registry],
  });
  const requestsPerPublish = new Histogram({
    name: 'sentryhub_gateway_requests_per_publish',
    help: 'Intake requests coalesced into one confirmed publish',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250],
    registers: [deps.registry],
  });
  const publishSeconds = new Histogram({
    name: 'sentryhub_gateway_publish_seconds',
    help: 'Time from handing a coalesced publish to the broker until its confirm (or failure)',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [deps.registry],
  });
  const publishesInFlight = new Histogram({
    name: 'sentryhub_gateway_publishes_in_flight',
    help: 'Unconfirmed publishes of the source when a publish started, itself included',
    buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64],
    registers: [deps.registry],
  });
  const publisher = new CoalescingPublisher(deps.messaging, deps.coalescing ?? DEFAULT_COALESCING, {
    published: (requests, _alerts, _ok, timing) => {
      requestsPerPublish.observe(requests);
      publishSeconds.observe(timing.seconds);
      publishesInFlight.observe(timing.inFlight);
    },
  });
  await app.register(intakeRoutes, { publisher, tokens: deps.tokens, acceptedAlerts, rejectedRequests });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
