import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';

const GIVEN_ID = /^[\w.:-]{1,128}$/;

/**
 * A fastify server whose request id is the correlation id of every later log line and message:
 * taken from a sane `x-request-id` header or made up, logged as `correlationId`, echoed back.
 */
export function createHttpServer(logger: Logger, options: Omit<FastifyServerOptions, 'loggerInstance' | 'genReqId' | 'logController'> = {}): FastifyInstance {
  const app = Fastify({
    ...options,
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
    },
    logController: new LogController({ requestIdLogLabel: 'correlationId' }),
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  return app;
}
