import {
  AcceptedResponse,
  AlertmanagerWebhook,
  ErrorResponse,
  PostableAlertOrAlerts,
  PostableAlerts,
  type AlertSource,
  type IntakeShape,
} from '@sentryhub/contracts';
import { createIntake, judgedByIntake, type IntakeOptions } from '@sentryhub/intake';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { requireToken } from './auth';

export interface IntakeRoutesOptions extends IntakeOptions {
  tokens: readonly string[];
}

const responses = { 202: AcceptedResponse, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse, 503: ErrorResponse };

/**
 * The three intake routes: validate, publish with confirm, then 202 (the shared intake of
 * @sentryhub/intake, also behind the admin's `POST /api/v2/alerts`). A body that cannot be read
 * as a whole is 400; an alert that breaks an intake bound is refused alone and listed in the
 * 202's `rejected`; when every alert is refused the answer is 400 (nothing usable, nothing
 * published), as Alertmanager answers a request whose alerts all fail validation.
 */
export async function intakeRoutes(app: FastifyInstance, options: IntakeRoutesOptions): Promise<void> {
  const intake = createIntake(options);
  const routes = app.withTypeProvider<ZodTypeProvider>();
  // onRequest: the token is checked before the body is read, limited or parsed (a wrong token is 401, never 400/413/415).
  const onRequest = requireToken(options.tokens);
  // Intake takes JSON only: any other content type is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');

  /** 202 only after RabbitMQ confirmed the message carrying the alerts; otherwise 503 and Alertmanager retries. */
  async function accept(request: FastifyRequest, reply: FastifyReply, shape: IntakeShape, source: AlertSource) {
    const outcome = await intake(request, shape, source);
    switch (outcome.kind) {
      case 'accepted': {
        const { kind: _kind, ...body } = outcome;
        return reply.code(202).send(body);
      }
      case 'invalid':
        return reply.code(400).send({ error: outcome.error, issues: outcome.issues });
      case 'too-large':
        return reply.code(413).send({ error: outcome.error });
      case 'unavailable':
        return reply.code(503).header('retry-after', String(outcome.retryAfterSeconds)).send({ error: outcome.error });
    }
  }

  routes.post(
    '/api/v1/webhooks/alertmanager',
    { onRequest, validatorCompiler: judgedByIntake, schema: { summary: 'Alertmanager webhook (version 4)', body: AlertmanagerWebhook, response: responses } },
    (request, reply) => accept(request, reply, 'webhook', 'webhook'),
  );
  routes.post(
    '/api/v2/alerts',
    {
      onRequest,
      validatorCompiler: judgedByIntake,
      schema: { summary: 'Alertmanager API v2: an array of postable alerts', body: PostableAlerts, response: responses },
    },
    (request, reply) => accept(request, reply, 'alerts', 'api'),
  );
  routes.post(
    '/api/v1/alerts',
    {
      onRequest,
      validatorCompiler: judgedByIntake,
      schema: { summary: 'One postable alert or an array of them', body: PostableAlertOrAlerts, response: responses },
    },
    (request, reply) => accept(request, reply, 'alert-or-alerts', 'api'),
  );
}
