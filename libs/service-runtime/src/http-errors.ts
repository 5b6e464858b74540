import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';

/** `/alerts/0/labels` -> `alerts.0.labels`, the dotted paths of the error shape. */
function dottedPath(instancePath: string): string {
  return instancePath.replace(/^\//, '').replaceAll('/', '.');
}

/**
 * zod validation for every route, and one error handler for the error shape of docs/contracts.md §3.1:
 * `{"error": "...", "issues": [{"path", "message"}]}`. 5xx details never leave the server.
 */
export const httpErrors = fp(
  async (app: FastifyInstance) => {
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (hasZodFastifySchemaValidationErrors(error)) {
        const issues = error.validation.map((issue) => ({ path: dottedPath(issue.instancePath), message: issue.message ?? 'invalid' }));
        return reply
          .code(400)
          .send({ error: `invalid ${error.validationContext ?? 'request'}: ${issues[0]?.path || '(root)'}: ${issues[0]?.message}`, issues });
      }
      const status = error.statusCode ?? 500;
      if (status >= 500) {
        request.log.error({ err: error }, 'request failed');
        return reply.code(status).send({ error: 'internal server error' });
      }
      return reply.code(status).send({ error: error.message });
    });
    app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route ${request.method} ${request.url}` }));
  },
  { name: 'http-errors' },
);
