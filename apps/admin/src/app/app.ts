import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import swagger from '@fastify/swagger';
import fastifyStatic from '@fastify/static';
import type { Database } from '@sentryhub/db';
import { DEFAULT_INTAKE_MAX_FUTURE, DEFAULT_RESOLVE_TIMEOUT, parseDuration } from '@sentryhub/contracts';
import { CoalescingPublisher, createIntake, DEFAULT_COALESCING, intakeMetrics } from '@sentryhub/intake';
import { PublishError, type Messaging } from '@sentryhub/messaging';
import { createHttpServer, healthRoutes, httpErrors, type Logger, type Readiness, type Registry, type WebhookReceiversFile } from '@sentryhub/service-runtime';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import type { ApiKeyStore } from './api-keys';
import { auditTrail } from './audit';
import { adminAuthorization, registerPublic } from './auth';
import type { ManagementSettings } from './rabbitmq-management';
import { alertGroupRoutes } from './routes/alert-groups';
import { alertmanagerV2Routes } from './routes/alertmanager-v2';
import { apiKeyRoutes } from './routes/api-keys';
import { explainRoutes } from './routes/explain';
import { inhibitRuleRoutes } from './routes/inhibit-rules';
import { logRoutes } from './routes/logs';
import { matcherRoutes } from './routes/matchers';
import { queueRoutes } from './routes/queues';
import { ruleRoutes } from './routes/rules';
import { silenceRoutes } from './routes/silences';
import { webhookRuleRoutes } from './routes/webhook-rules';
import { slackTester } from './slack-test-sender';

export interface AdminDeps {
  logger: Logger;
  db: Kysely<Database>;
  keys: ApiKeyStore;
  /** The broker, once connected: audit events are published after commit when it is there. */
  messaging: () => Pick<Messaging, 'publish'> | null;
  readiness: Readiness;
  registry: Registry;
  slackEndpoint?: string | undefined;
  defaultChannel: string;
  /** Queue management (RABBITMQ_MANAGEMENT_ENABLED); absent or disabled: its routes answer 404. */
  management?: ManagementSettings | null;
  /**
   * The console's static files (apps/admin/src/public, or public/ beside the bundle, with the
   * console's script `console.js` that `npm run build` bundles from apps/admin/src/console).
   */
  publicDir?: string;
  /** INTAKE_MAX_FUTURE in milliseconds (`POST /api/v2/alerts`); 10 minutes when not given. */
  intakeMaxFutureMs?: number;
  /** RESOLVE_TIMEOUT in milliseconds: the lease of an alert posted without endsAt; 5 minutes when not given. */
  resolveTimeoutMs?: number;
  /** WEBHOOK_RECEIVERS_FILE, parsed: the receivers webhook rules may name; none when not given. */
  webhookReceivers?: WebhookReceiversFile;
  /** WEBHOOK_EXTERNAL_URL: `external_url` in webhook bodies; http://localhost:8081 when not given. */
  webhookExternalUrl?: string;
  /** Where a webhook test send reads the receivers' header, parameter and HMAC values; process.env when not given. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The admin app: REST API under /api/v1, the console at /, health and OpenAPI. Every route
 * declares its least role (`config: { role }`); `adminAuthorization`, registered first, refuses
 * a route without one and enforces it on the route the router matched (see auth.ts).
 */
export async function buildAdmin(deps: AdminDeps): Promise<FastifyInstance> {
  const app = createHttpServer(deps.logger);
  await app.register(adminAuthorization, { keys: deps.keys });
  app.addHook('onSend', async (_request, reply) => {
    // The console: only its own scripts and styles, never inside a frame, no referrer leaks.
    reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  });
  await app.register(httpErrors);
  await app.register(swagger, {
    openapi: {
      info: { title: 'SentryHub admin API', version: '1.0.0' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(healthRoutes, { readiness: deps.readiness, registry: deps.registry });
  app.get('/openapi.json', { schema: { hide: true }, config: { role: 'public' } }, async () => app.swagger());

  const audit = auditTrail(deps.messaging, deps.logger);
  await app.register(
    async (api) => {
      await api.register(alertGroupRoutes, { db: deps.db, audit });
      await api.register(silenceRoutes, { db: deps.db, audit });
      await api.register(inhibitRuleRoutes, { db: deps.db, audit });
      await api.register(ruleRoutes, { db: deps.db, audit, slack: slackTester(deps.slackEndpoint), defaultChannel: deps.defaultChannel });
      await api.register(webhookRuleRoutes, {
        db: deps.db,
        audit,
        receivers: deps.webhookReceivers ?? {},
        env: deps.env ?? process.env,
        externalUrl: deps.webhookExternalUrl ?? 'http://localhost:8081',
      });
      await api.register(explainRoutes, { db: deps.db, defaultChannel: deps.defaultChannel });
      await api.register(logRoutes, { db: deps.db, audit });
      await api.register(matcherRoutes);
      await api.register(apiKeyRoutes, { db: deps.db, keys: deps.keys, audit });
      await api.register(queueRoutes, { db: deps.db, audit, management: deps.management ?? null, registry: deps.registry });
    },
    { prefix: '/api/v1' },
  );
  // Alertmanager's API v2, for amtool and Grafana (docs/alertmanager-compatibility.md). Its
  // `POST /alerts` is the gateway's intake (@sentryhub/intake) on the admin's broker: 503 until connected.
  const publisher = new CoalescingPublisher(
    {
      publish: (...args) => {
        const messaging = deps.messaging();
        if (!messaging) return Promise.reject(new PublishError('not connected to RabbitMQ yet', 'disconnected'));
        return messaging.publish(...args);
      },
    },
    DEFAULT_COALESCING,
  );
  const intake = createIntake({
    publisher,
    ...intakeMetrics(deps.registry, 'admin'),
    maxFutureMs: deps.intakeMaxFutureMs ?? (parseDuration(DEFAULT_INTAKE_MAX_FUTURE) as number),
    resolveTimeoutMs: deps.resolveTimeoutMs ?? (parseDuration(DEFAULT_RESOLVE_TIMEOUT) as number),
  });
  await app.register(alertmanagerV2Routes, { db: deps.db, audit, intake, prefix: '/api/v2' });

  // The console's files are public (they hold no data; the API they call needs a key).
  const publicDir = deps.publicDir ?? fileURLToPath(new URL('../public/', import.meta.url));
  await registerPublic(app, fastifyStatic, { root: publicDir, index: 'index.html' });
  if (!existsSync(join(publicDir, 'console.js'))) await app.register(consoleFromSource);
  return app;
}

/**
 * Run from source (tests, `nx serve admin`), there is no built `console.js` beside the static
 * files: it is bundled from apps/admin/src/console on each request, with the build's own esbuild
 * setup (tools/build/bundle.mjs), so an edit to the console shows on the next page load.
 */
const consoleFromSource: FastifyPluginAsync = async (scope) => {
  const bundler = new URL('../../../../tools/build/bundle.mjs', import.meta.url).href;
  scope.get('/console.js', { config: { role: 'public' } }, async (request, reply) => {
    const { bundleConsole } = (await import(bundler)) as { bundleConsole: () => Promise<string> };
    try {
      return await reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(await bundleConsole());
    } catch (error) {
      request.log.error({ err: error }, 'the console could not be bundled from source');
      return reply.code(500).send({ error: 'the console could not be bundled from source: see the admin log' });
    }
  });
};
