import {
  deadLetterQueueName,
  DeadLetterList,
  DeadLetterParams,
  DeadLetterQuery,
  DeadLetterReplayBody,
  DeadLetterReplayResult,
  ErrorResponse,
  QueueList,
  QueueNameParams,
  QueuePublishBody,
  QueuePublished,
  QueuePurgeBody,
  QueuePurged,
  type DeadLetterView,
} from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import { Counter, type Registry } from '@sentryhub/service-runtime';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';
import { deadLetterOrigin, QueueNotFoundError, queueOperations } from '../queue-operations';
import { managementClient, ManagementUnavailableError, queueRates, type ManagementSettings, type RawMessage } from '../rabbitmq-management';

export interface QueueRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
  /** null or `enabled: false`: every route answers 404 (RABBITMQ_MANAGEMENT_ENABLED). */
  management: ManagementSettings | null;
  registry: Registry;
}

const DISABLED = 'queue management is disabled: start the admin service with RABBITMQ_MANAGEMENT_ENABLED=true to use it';

const metricsByRegistry = new WeakMap<Registry, Counter<'operation' | 'outcome'>>();
function operationCounter(registry: Registry): Counter<'operation' | 'outcome'> {
  const known = metricsByRegistry.get(registry);
  if (known) return known;
  const counter = new Counter({
    name: 'sentryhub_admin_queue_operations_total',
    help: 'Queue management operations (publish, purge, replay, and replayed messages as replay_message) by outcome',
    labelNames: ['operation', 'outcome'] as const,
    registers: [registry],
  });
  metricsByRegistry.set(registry, counter);
  return counter;
}

/** `<queue>` or `<queue>.dead` -> both names. */
function deadLetterNames(queue: string) {
  const work = queue.endsWith('.dead') ? queue.slice(0, -'.dead'.length) : queue;
  return { queue: work, deadLetterQueue: deadLetterQueueName(work) };
}

function deadLetterView(message: RawMessage): DeadLetterView {
  const { properties } = message;
  const origin = deadLetterOrigin(properties.headers);
  return {
    messageId: properties.message_id ?? null,
    correlationId: properties.correlation_id ?? null,
    timestamp: properties.timestamp === undefined ? null : new Date(properties.timestamp * 1000).toISOString(),
    error: origin.error,
    errorPath: origin.errorPath,
    originalExchange: origin.exchange,
    originalRoutingKey: origin.routingKey,
    originalQueue: origin.queue,
    retryCount: origin.retryCount,
    deaths: origin.deaths,
    contentType: properties.content_type ?? null,
    payload: message.payload,
    payloadEncoding: message.payload_encoding,
  };
}

/**
 * Queue management (docs/contracts.md §3.4), admin role only: queue statistics from the
 * management API, a confirmed test publish, purge with confirmation, dead-letter inspection and
 * replay. Every change is written to audit_log and published as an audit event.
 */
export async function queueRoutes(app: FastifyInstance, { db, audit, management, registry }: QueueRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const operations = operationCounter(registry);
  const settings = management?.enabled ? management : null;
  const client = settings ? managementClient(settings) : null;
  const amqpOps = settings ? queueOperations(settings) : null;

  const enabled = async (_request: FastifyRequest, reply: FastifyReply) => {
    if (!settings) return reply.code(404).send({ error: DISABLED });
  };
  const errors = { 404: ErrorResponse, 503: ErrorResponse };

  /** What an operator can act on: a missing queue is 404, an unreachable broker or management API 503. */
  function failed(reply: FastifyReply, error: unknown) {
    if (error instanceof QueueNotFoundError) return reply.code(404).send({ error: error.message });
    if (error instanceof ManagementUnavailableError) return reply.code(503).send({ error: error.message });
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET'].includes(code)) {
      return reply.code(503).send({ error: `RabbitMQ is unreachable (${code}); try again when the broker is up` });
    }
    // Anything else is a bug or an unexpected broker answer: the error handler logs it once, answers 500.
    throw error;
  }

  function whenEnabled<T>(value: T | null): T {
    if (value === null) throw new Error('queue management used while disabled');
    return value;
  }

  routes.get('/queues', { onRequest: enabled, config: { role: 'admin' }, schema: { response: { 200: QueueList, ...errors } } }, async (_request, reply) => {
    try {
      const queues = await whenEnabled(client).listQueues();
      return {
        vhost: whenEnabled(settings).vhost,
        items: queues.map((queue) => ({
          name: queue.name,
          type: queue.type,
          durable: queue.durable,
          state: queue.state ?? null,
          messages: queue.messages,
          messagesReady: queue.messages_ready,
          messagesUnacknowledged: queue.messages_unacknowledged,
          consumers: queue.consumers,
          rates: queueRates(queue),
          arguments: queue.arguments,
        })),
      };
    } catch (error) {
      return failed(reply, error);
    }
  });

  routes.post(
    '/queues/:name/publish',
    {
      onRequest: enabled,
      config: { role: 'admin' },
      schema: { params: QueueNameParams, body: QueuePublishBody, response: { 202: QueuePublished, 400: ErrorResponse, ...errors } },
    },
    async (request, reply) => {
      const { name } = request.params;
      const actor = actorOf(request);
      const payload = request.body.payload ?? { test: true, sentBy: actor, sentAt: new Date().toISOString() };
      let messageId: string;
      try {
        messageId = await whenEnabled(amqpOps).publishTest(name, payload, {
          messageId: request.body.messageId,
          correlationId: request.body.correlationId ?? request.id,
          headers: request.body.headers,
        });
      } catch (error) {
        operations.inc({ operation: 'publish', outcome: 'failed' });
        return failed(reply, error);
      }
      operations.inc({ operation: 'publish', outcome: 'done' });
      const event = await audit.record(db, { actor, entity: 'queue', entityId: name, action: 'publish', changes: { messageId } });
      await audit.publish(event, request.id);
      return reply.code(202).send({ queue: name, messageId });
    },
  );

  routes.post(
    '/queues/:name/purge',
    {
      onRequest: enabled,
      config: { role: 'admin' },
      schema: { params: QueueNameParams, body: QueuePurgeBody, response: { 200: QueuePurged, 400: ErrorResponse, ...errors } },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (request.body.confirm !== name) {
        return reply.code(400).send({
          error: `purging deletes every ready message of ${name}: send {"confirm": "${name}"} to confirm`,
          issues: [{ path: 'confirm', message: `must be "${name}"` }],
        });
      }
      let purged: number;
      try {
        purged = await whenEnabled(amqpOps).purge(name);
      } catch (error) {
        operations.inc({ operation: 'purge', outcome: 'failed' });
        return failed(reply, error);
      }
      operations.inc({ operation: 'purge', outcome: 'done' });
      const event = await audit.record(db, { actor: actorOf(request), entity: 'queue', entityId: name, action: 'purge', changes: { purged } });
      await audit.publish(event, request.id);
      return { queue: name, purged };
    },
  );

  routes.get(
    '/dead-letters/:queue',
    {
      onRequest: enabled,
      config: { role: 'admin' },
      schema: { params: DeadLetterParams, querystring: DeadLetterQuery, response: { 200: DeadLetterList, 400: ErrorResponse, ...errors } },
    },
    async (request, reply) => {
      const names = deadLetterNames(request.params.queue);
      try {
        const messages = await whenEnabled(client).peek(names.deadLetterQueue, request.query.limit);
        if (messages === null) return reply.code(404).send({ error: `queue ${names.deadLetterQueue} does not exist` });
        const first = messages[0];
        return { ...names, total: first ? first.message_count + 1 : 0, items: messages.map(deadLetterView) };
      } catch (error) {
        return failed(reply, error);
      }
    },
  );

  routes.post(
    '/dead-letters/:queue/replay',
    {
      onRequest: enabled,
      config: { role: 'admin' },
      schema: { params: DeadLetterParams, body: DeadLetterReplayBody, response: { 200: DeadLetterReplayResult, 400: ErrorResponse, ...errors } },
    },
    async (request, reply) => {
      const names = deadLetterNames(request.params.queue);
      const { messageIds, to } = request.body;
      let outcome;
      try {
        outcome = await whenEnabled(amqpOps).replay({ ...names, messageIds: messageIds ? new Set(messageIds) : null, to });
      } catch (error) {
        operations.inc({ operation: 'replay', outcome: 'failed' });
        return failed(reply, error);
      }
      operations.inc({ operation: 'replay', outcome: outcome.failed.length === 0 ? 'done' : 'partial' });
      operations.inc({ operation: 'replay_message', outcome: 'done' }, outcome.replayed.length);
      if (outcome.failed.length > 0) operations.inc({ operation: 'replay_message', outcome: 'failed' }, outcome.failed.length);
      const event = await audit.record(db, {
        actor: actorOf(request),
        entity: 'queue',
        entityId: names.deadLetterQueue,
        action: 'replay',
        changes: {
          to,
          requested: messageIds ?? 'all',
          replayed: outcome.replayed.map((item) => item.messageId),
          failed: outcome.failed,
          notFound: outcome.notFound,
        },
      });
      await audit.publish(event, request.id);
      return { ...names, ...outcome };
    },
  );
}
