import { AcceptedResponse, AlertmanagerWebhook, ErrorResponse, PostableAlertOrAlerts, PostableAlerts, type AlertSource } from '@sentryhub/contracts';
import { PublishError } from '@sentryhub/messaging';
import { normalizeIntakeBody, type IntakeBody } from '@sentryhub/rules';
import type { Counter } from '@sentryhub/service-runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { requireToken } from './auth';
import type { CoalescingPublisher } from './coalescing-publisher';

export interface IntakeRoutesOptions {
  /** Publishes with confirm, coalescing concurrent requests (group commit). */
  publisher: CoalescingPublisher;
  tokens: readonly string[];
  acceptedAlerts: Counter<'source'>;
  rejectedRequests: Counter<'reason'>;
}

const RETRY_AFTER_SECONDS = 5;

const responses = { 202: AcceptedResponse, 400: ErrorResponse, 401: ErrorResponse, 503: ErrorResponse };

/** The three intake routes of SPEC section 2: validate, publish with confirm, then 202. */
export async function intakeRoutes(app: FastifyInstance, options: IntakeRoutesOptions): Promise<void> {
  const { publisher, acceptedAlerts, rejectedRequests } = options;
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const preHandler = requireToken(options.tokens);
  // Intake takes JSON only: any other content type is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');

  /** 202 only after RabbitMQ confirmed the message carrying the alerts; otherwise 503 and Alertmanager retries. */
  async function accept(request: FastifyRequest, reply: FastifyReply, body: IntakeBody, source: AlertSource) {
    const receivedAt = new Date();
    const { alerts, meta } = normalizeIntakeBody(body, receivedAt);
    try {
      await publisher.submit(source, { id: request.id, receivedAt, meta, alerts });
    } catch (error) {
      const reason = error instanceof PublishError ? error.reason : 'error';
      rejectedRequests.inc({ reason: `broker_${reason}` });
      request.log.error({ err: error, alerts: alerts.length }, 'publish not confirmed; answering 503');
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ error: `alerts not accepted: ${error instanceof Error ? error.message : 'broker unavailable'}; retry later` });
    }
    acceptedAlerts.inc({ source }, alerts.length);
    request.log.debug({ alerts: alerts.length, source }, 'alerts accepted');
    return reply.code(202).send({ accepted: alerts.length, id: request.id });
  }

  routes.post(
    '/api/v1/webhooks/alertmanager',
    { preHandler, schema: { summary: 'Alertmanager webhook (version 4)', body: AlertmanagerWebhook, response: responses } },
    (request, reply) => accept(request, reply, request.body, 'webhook'),
  );
  routes.post(
    '/api/v2/alerts',
    { preHandler, schema: { summary: 'Alertmanager API v2: an array of postable alerts', body: PostableAlerts, response: responses } },
    (request, reply) => accept(request, reply, request.body, 'api'),
  );
  routes.post(
    '/api/v1/alerts',
    { preHandler, schema: { summary: 'One postable alert or an array of them', body: PostableAlertOrAlerts, response: responses } },
    (request, reply) => accept(request, reply, request.body, 'api'),
  );
}
