import { MatcherParseError, parseMatcher, type SilenceMatcher } from '@sentryhub/rules';
import type { FastifyReply } from 'fastify';

/**
 * Alertmanager's API answers its errors with a JSON string (go-swagger `type: string`), and
 * amtool prints that string: SentryHub's `/api/v2` does the same, naming the problem.
 */
export class ApiV2Error extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const sendError = (reply: FastifyReply, statusCode: number, message: string) =>
  reply.code(statusCode).type('application/json; charset=utf-8').send(JSON.stringify(message));

type Query = Record<string, string | string[] | undefined>;

/** A repeated query parameter (`?filter=a&filter=b`), as a list. */
export function queryList(query: Query, name: string): string[] {
  const value = query[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** A boolean query parameter (`true`/`false`, `1`/`0`), its default when absent. */
export function queryBool(query: Query, name: string, fallback: boolean): boolean {
  const values = queryList(query, name);
  if (values.length === 0) return fallback;
  if (values.length > 1) throw new ApiV2Error(400, `${name} is given ${values.length} times; give it once`);
  const value = values[0]?.toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ApiV2Error(400, `${name} must be true or false, not ${JSON.stringify(values[0])}`);
}

/** Each `filter` is one matcher (`alertname="X"`, `job=~"node.*"`), parsed as Alertmanager parses it. */
export function filterMatchers(query: Query): SilenceMatcher[] {
  return queryList(query, 'filter').map((text) => {
    try {
      return parseMatcher(text);
    } catch (error) {
      if (error instanceof MatcherParseError) throw new ApiV2Error(400, `invalid filter: ${error.message}`);
      throw error;
    }
  });
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Go's zero time, as Alertmanager prints a time it does not have. */
export const ZERO_TIME = '0001-01-01T00:00:00.000Z';
