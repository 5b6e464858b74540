import type { Database } from '@sentryhub/db';
import type { Intake } from '@sentryhub/intake';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { AuditTrail } from '../../audit';
import { actorOf } from '../../auth';
import type { SilenceWriter } from '../../silences';
import { groupByReceiver, listAlerts, receiverNames, type AlertFilter } from './alerts';
import { ApiV2Error, filterMatchers, queryBool, queryList, sendError } from './common';
import { deleteSilence, gettableSilence, listSilences, postSilence, silenceByUuid } from './silences';
import { alertmanagerStatus } from './status';

export interface AlertmanagerV2Options {
  db: Kysely<Database>;
  audit: AuditTrail;
  /** The gateway's intake (validation, leases, publish with confirm), behind `POST /alerts`. */
  intake: Intake;
  /** Reported as `uptime` by `GET /status`. */
  startedAt?: Date;
}

type Query = Record<string, string | string[] | undefined>;
const tags = ['alertmanager-v2'];

function alertFilter(query: Query): AlertFilter {
  const receiver = queryList(query, 'receiver');
  if (receiver.length > 1) throw new ApiV2Error(400, 'receiver is given more than once; give one regex');
  // `unprocessed` is accepted and changes nothing: every alert SentryHub lists has been processed.
  queryBool(query, 'unprocessed', true);
  return {
    matchers: filterMatchers(query),
    active: queryBool(query, 'active', true),
    silenced: queryBool(query, 'silenced', true),
    inhibited: queryBool(query, 'inhibited', true),
    receiver: receiver[0],
  };
}

/**
 * Alertmanager's API v2 (its published openapi.yaml, as Alertmanager 0.25 serves it) on the
 * admin service, for amtool, Grafana and anything else that reads an Alertmanager. Reads need
 * a viewer key, writes an editor key; errors are JSON strings, as Alertmanager answers them.
 */
export async function alertmanagerV2Routes(app: FastifyInstance, { db, audit, intake, startedAt = new Date() }: AlertmanagerV2Options): Promise<void> {
  const writer = (request: FastifyRequest): SilenceWriter => ({ db, audit, actor: actorOf(request), correlationId: request.id });
  const query = (request: FastifyRequest) => request.query as Query;

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiV2Error) return sendError(reply, error.statusCode, error.message);
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return sendError(reply, error.statusCode, error.message);
    request.log.error({ err: error }, 'alertmanager API request failed');
    return sendError(reply, 500, 'internal error; see the admin log');
  });

  app.get('/status', { config: { role: 'viewer' }, schema: { tags } }, async () => alertmanagerStatus(db, startedAt));

  app.get('/receivers', { config: { role: 'viewer' }, schema: { tags } }, async () => (await receiverNames(db)).map((name) => ({ name })));

  app.get('/alerts', { config: { role: 'viewer' }, schema: { tags } }, async (request) => listAlerts(db, alertFilter(query(request))));

  // The gateway's intake: alerts judged one by one, Alertmanager's leases, answered only after
  // RabbitMQ confirmed them. 200 as Alertmanager answers it (amtool accepts nothing else), with
  // the gateway's {accepted, id, rejected?}; errors are JSON strings like the rest of this API.
  app.post('/alerts', { config: { role: 'editor' }, schema: { tags } }, async (request, reply) => {
    const outcome = await intake(request, 'alerts', 'api');
    switch (outcome.kind) {
      case 'accepted': {
        const { kind: _kind, ...body } = outcome;
        return reply.code(200).send(body);
      }
      case 'invalid':
        return sendError(reply, 400, outcome.error);
      case 'too-large':
        return sendError(reply, 413, outcome.error);
      case 'unavailable':
        return sendError(reply.header('retry-after', String(outcome.retryAfterSeconds)), 503, outcome.error);
    }
  });

  app.get('/alerts/groups', { config: { role: 'viewer' }, schema: { tags } }, async (request) => {
    const filter = alertFilter(query(request));
    const groups = groupByReceiver(await listAlerts(db, { ...filter, receiver: undefined }), filter.receiver);
    // `muted=false` leaves out the groups whose every alert is suppressed.
    return queryBool(query(request), 'muted', true) ? groups : groups.filter((group) => group.alerts.some((alert) => alert.status.state !== 'suppressed'));
  });

  app.get('/silences', { config: { role: 'viewer' }, schema: { tags } }, async (request) => {
    const q = query(request);
    return listSilences(db, {
      matchers: filterMatchers(q),
      active: queryBool(q, 'active', true),
      pending: queryBool(q, 'pending', true),
      expired: queryBool(q, 'expired', true),
    });
  });

  app.post('/silences', { config: { role: 'editor' }, schema: { tags } }, async (request) => ({ silenceID: await postSilence(writer(request), request.body) }));

  app.get<{ Params: { silenceID: string } }>('/silence/:silenceID', { config: { role: 'viewer' }, schema: { tags } }, async (request, reply) => {
    const row = await silenceByUuid(db, request.params.silenceID);
    return row ? gettableSilence(row, new Date()) : sendError(reply, 404, `silence ${request.params.silenceID} not found`);
  });

  app.delete<{ Params: { silenceID: string } }>('/silence/:silenceID', { config: { role: 'editor' }, schema: { tags } }, async (request, reply) => {
    await deleteSilence(writer(request), request.params.silenceID);
    return reply.code(200).send();
  });
}
