import { ErrorResponse, SilenceMatcher } from '@sentryhub/contracts';
import { MatcherParseError, parseMatchers } from '@sentryhub/rules';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** The longest matcher text taken: far more than any silence or inhibition rule needs. */
export const MATCHER_TEXT_MAX = 10_000;

export const ParseMatchersBody = z.object({
  text: z.string().max(MATCHER_TEXT_MAX, `text must be at most ${MATCHER_TEXT_MAX} characters`),
});
export const ParsedMatchers = z.object({ matchers: z.array(SilenceMatcher) });

/**
 * `POST /matchers/parse`: matcher text in Alertmanager's syntax (`{a="b", c=~"d.*"}` or a bare
 * `a=b`) parsed by the one parser of `@sentryhub/rules` (what `/api/v2` and amtool use), for the
 * console, which is plain JavaScript and cannot import it. 400 names what is wrong with the text.
 */
export async function matcherRoutes(app: FastifyInstance): Promise<void> {
  app
    .withTypeProvider<ZodTypeProvider>()
    .post(
      '/matchers/parse',
      { config: { role: 'viewer' }, schema: { body: ParseMatchersBody, response: { 200: ParsedMatchers, 400: ErrorResponse } } },
      async (request, reply) => {
        try {
          const matchers = parseMatchers(request.body.text.trim());
          if (matchers.length === 0)
            return reply.code(400).send({
              error: 'no matcher in the text: write one like alertname="DiskFull", or a list like {alertname="DiskFull", instance=~"db-.*"}',
              issues: [{ path: 'text', message: 'no matcher' }],
            });
          return { matchers };
        } catch (error) {
          if (error instanceof MatcherParseError) return reply.code(400).send({ error: error.message, issues: [{ path: 'text', message: error.message }] });
          throw error;
        }
      },
    );
}
