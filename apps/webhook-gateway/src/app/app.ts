import swagger from '@fastify/swagger';
import { DEFAULT_INTAKE_MAX_FUTURE, DEFAULT_RESOLVE_TIMEOUT, parseDuration } from '@sentryhub/contracts';
import { CoalescingPublisher, DEFAULT_COALESCING, intakeMetrics, type CoalescingOptions } from '@sentryhub/intake';
import type { Messaging } from '@sentryhub/messaging';
import { createHttpServer, Gauge, Histogram, healthRoutes, httpErrors, type Logger, type Readiness, type Registry } from '@sentryhub/service-runtime';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { anonymousIntakeProblem } from './auth';
import { intakeRoutes } from './intake-routes';

export interface GatewayDeps {
  logger: Logger;
  messaging: Pick<Messaging, 'publish'>;
  readiness: Readiness;
  registry: Registry;
  /** WEBHOOK_TOKENS: every intake request must carry one of them. */
  tokens: readonly string[];
  /** WEBHOOK_ALLOW_ANONYMOUS: without tokens, buildGateway refuses unless this is true. */
  allowAnonymous?: boolean;
  bodyLimitBytes: number;
  /** Group commit of concurrent requests and its bounds; DEFAULT_COALESCING when not given. */
  coalescing?: CoalescingOptions;
  /** INTAKE_MAX_FUTURE in milliseconds; 10 minutes when not given. */
  intakeMaxFutureMs?: number;
  /** RESOLVE_TIMEOUT in milliseconds: the lease of an alert posted to `/api/v2/alerts` without endsAt; 5 minutes when not given. */
  resolveTimeoutMs?: number;
}

/** The webhook-gateway HTTP app: intake routes, health, metrics and OpenAPI. */
export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  const refused = anonymousIntakeProblem(deps.tokens, deps.allowAnonymous ?? false);
  if (refused) throw new Error(`webhook-gateway: ${refused}`);
  // The request id is the correlation id of every later log line and message.
  const app = createHttpServer(deps.logger, { bodyLimit: deps.bodyLimitBytes });

  await app.register(httpErrors);
  await app.register(swagger, {
    openapi: { info: { title: 'SentryHub webhook-gateway', version: '1.0.0' } },
    transform: jsonSchemaTransform,
  });
  await app.register(healthRoutes, { readiness: deps.readiness, registry: deps.registry });

  const { acceptedAlerts, rejectedRequests, rejectedAlerts } = intakeMetrics(deps.registry, 'gateway');
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
  const publishBytes = new Histogram({
    name: 'sentryhub_gateway_publish_bytes',
    help: 'Body size of each coalesced alert.received publish (at most GATEWAY_COALESCE_MAX_BYTES)',
    buckets: [1_024, 16_384, 65_536, 262_144, 1_048_576, 2_097_152, 4_194_304, 16_777_216],
    registers: [deps.registry],
  });
  const publisher = new CoalescingPublisher(deps.messaging, deps.coalescing ?? DEFAULT_COALESCING, {
    published: (requests, _alerts, _ok, timing) => {
      requestsPerPublish.observe(requests);
      publishSeconds.observe(timing.seconds);
      publishesInFlight.observe(timing.inFlight);
      publishBytes.observe(timing.bytes);
    },
  });
  new Gauge({
    name: 'sentryhub_gateway_requests_waiting',
    help: 'Intake requests waiting for a publish slot (capped by GATEWAY_MAX_WAITING_REQUESTS)',
    registers: [deps.registry],
    collect() {
      this.set(publisher.waiting.requests);
    },
  });
  const maxFutureMs = deps.intakeMaxFutureMs ?? (parseDuration(DEFAULT_INTAKE_MAX_FUTURE) as number);
  const resolveTimeoutMs = deps.resolveTimeoutMs ?? (parseDuration(DEFAULT_RESOLVE_TIMEOUT) as number);
  // The intake routes check the token on request, before the body is read (auth.ts).
  await app.register(intakeRoutes, { publisher, tokens: deps.tokens, acceptedAlerts, rejectedRequests, rejectedAlerts, maxFutureMs, resolveTimeoutMs });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
