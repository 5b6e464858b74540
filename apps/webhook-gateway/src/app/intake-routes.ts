import {
  AcceptedResponse,
  AlertmanagerWebhook,
  ErrorResponse,
  parseIntakeAlerts,
  PostableAlertOrAlerts,
  PostableAlerts,
  toErrorIssues,
  type AlertSource,
  type IntakeShape,
  type RejectedAlert,
} from '@sentryhub/contracts';
import { PublishError } from '@sentryhub/messaging';
import { normalizeIntakeAlerts, SENDER_LEASE_ONLY } from '@sentryhub/rules';
import type { Counter } from '@sentryhub/service-runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { requireToken } from './auth';
import { IntakeBusyError, MessageTooLargeError, type CoalescingPublisher } from './coalescing-publisher';

export interface IntakeRoutesOptions {
  /** Publishes with confirm, coalescing concurrent requests (group commit). */
  publisher: CoalescingPublisher;
  tokens: readonly string[];
  acceptedAlerts: Counter<'source'>;
  rejectedRequests: Counter<'reason'>;
  /** Alerts refused on their own at intake, by source and the bound they broke (never their content). */
  rejectedAlerts: Counter<'source' | 'reason'>;
  /** How far after the receipt an alert's startsAt or endsAt may be (INTAKE_MAX_FUTURE), in milliseconds. */
  maxFutureMs: number;
  /** RESOLVE_TIMEOUT in milliseconds: the lease of an alert posted to `/api/v2/alerts` without endsAt. */
  resolveTimeoutMs: number;
}

const RETRY_AFTER_SECONDS = 5;

/** At most this many issues in a 400 that refuses every alert of a request. */
const MAX_ISSUES = 100;

const responses = { 202: AcceptedResponse, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse, 503: ErrorResponse };

/**
 * The body is judged by parseIntakeAlerts in the handler, alert by alert, instead of by the
 * route's schema, which would refuse the whole request for one bad alert. The schema stays on
 * the route for the OpenAPI document.
 */
const judgedInHandler = () => (data: unknown) => ({ value: data });

/**
 * The three intake routes: validate, publish with confirm, then 202. A body that cannot be read
 * as a whole is 400; an alert that breaks an intake bound is refused alone and listed in the
 * 202's `rejected`; when every alert is refused the answer is 400 (nothing usable, nothing
 * published), as Alertmanager answers a request whose alerts all fail validation.
 */
export async function intakeRoutes(app: FastifyInstance, options: IntakeRoutesOptions): Promise<void> {
  const { publisher, acceptedAlerts, rejectedRequests, rejectedAlerts, maxFutureMs, resolveTimeoutMs } = options;
  const routes = app.withTypeProvider<ZodTypeProvider>();
  // onRequest: the token is checked before the body is read, limited or parsed (a wrong token is 401, never 400/413/415).
  const onRequest = requireToken(options.tokens);
  // Intake takes JSON only: any other content type is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');

  const countRejected = (source: AlertSource, rejected: readonly RejectedAlert[]) => {
    for (const alert of rejected) rejectedAlerts.inc({ source, reason: alert.refusal });
  };

  /** 202 only after RabbitMQ confirmed the message carrying the alerts; otherwise 503 and Alertmanager retries. */
  async function accept(request: FastifyRequest, reply: FastifyReply, shape: IntakeShape, source: AlertSource) {
    const receivedAt = new Date();
    const parsed = parseIntakeAlerts(shape, request.body, { receivedAt, maxFutureMs });
    countRejected(source, parsed.rejected);
    if (!parsed.success) {
      const issues = toErrorIssues(parsed.error).slice(0, MAX_ISSUES);
      const [first] = issues;
      const what = parsed.rejected.length > 0 ? `no alert accepted (${parsed.rejected.length} refused)` : 'invalid body';
      request.log.info({ refused: parsed.rejected.length, bounds: [...new Set(parsed.rejected.map((alert) => alert.refusal))] }, 'intake request refused');
      return reply.code(400).send({ error: `${what}: ${first?.path || '(root)'}: ${first?.message ?? 'invalid'}`, issues });
    }
    // Alertmanager's leases: on API v2 an alert without endsAt expires RESOLVE_TIMEOUT after its
    // receipt; elsewhere only a sender's future endsAt is a lease (a webhook never has one).
    const { alerts, meta } = normalizeIntakeAlerts(parsed.data, receivedAt, shape === 'alerts' ? { resolveTimeoutMs } : SENDER_LEASE_ONLY);
    try {
      await publisher.submit(source, { id: request.id, receivedAt, meta, alerts });
    } catch (error) {
      // One alert bigger than a message (GATEWAY_COALESCE_MAX_BYTES): retrying cannot help.
      if (error instanceof MessageTooLargeError) return reply.code(413).send({ error: error.message });
      const reason = error instanceof IntakeBusyError ? 'busy' : `broker_${error instanceof PublishError ? error.reason : 'error'}`;
      rejectedRequests.inc({ reason });
      if (error instanceof IntakeBusyError) request.log.warn({ alerts: alerts.length, reason: error.message }, 'too many requests wait for a publish slot; answering 503');
      else request.log.error({ err: error, alerts: alerts.length }, 'publish not confirmed; answering 503');
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ error: `alerts not accepted: ${error instanceof Error ? error.message : 'broker unavailable'}; retry later` });
    }
    acceptedAlerts.inc({ source }, alerts.length);
    if (parsed.rejected.length === 0) {
      request.log.debug({ alerts: alerts.length, source }, 'alerts accepted');
      return reply.code(202).send({ accepted: alerts.length, id: request.id });
    }
    request.log.info({ alerts: alerts.length, refused: parsed.rejected.map(({ index, refusal }) => ({ index, bound: refusal })), source }, 'alerts accepted, some refused');
    return reply.code(202).send({
      accepted: alerts.length,
      id: request.id,
      rejected: parsed.rejected.map(({ index, reason, refusal }) => ({ index, reason, bound: refusal })),
    });
  }

  routes.post(
    '/api/v1/webhooks/alertmanager',
    { onRequest, validatorCompiler: judgedInHandler, schema: { summary: 'Alertmanager webhook (version 4)', body: AlertmanagerWebhook, response: responses } },
    (request, reply) => accept(request, reply, 'webhook', 'webhook'),
  );
  routes.post(
    '/api/v2/alerts',
    { onRequest, validatorCompiler: judgedInHandler, schema: { summary: 'Alertmanager API v2: an array of postable alerts', body: PostableAlerts, response: responses } },
    (request, reply) => accept(request, reply, 'alerts', 'api'),
  );
  routes.post(
    '/api/v1/alerts',
    { onRequest, validatorCompiler: judgedInHandler, schema: { summary: 'One postable alert or an array of them', body: PostableAlertOrAlerts, response: responses } },
    (request, reply) => accept(request, reply, 'alert-or-alerts', 'api'),
  );
}
