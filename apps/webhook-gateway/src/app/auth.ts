import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The token a request carries: `Bearer <t>`, or the password of basic auth. */
export function presentedToken(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const [scheme, value] = authorization.split(' ', 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? null : decoded.slice(colon + 1);
  }
  return null;
}

/** Compares in constant time (over digests, so that lengths leak nothing either). */
export function tokenAllowed(token: string | null, tokens: readonly string[]): boolean {
  if (token === null) return false;
  const presented = digest(token);
  let allowed = false;
  for (const candidate of tokens) allowed = timingSafeEqual(presented, digest(candidate)) || allowed;
  return allowed;
}

/**
 * An onRequest hook that answers 401 unless the request carries one of WEBHOOK_TOKENS. It runs
 * before the body is read: a sender without a token gets its 401 whatever the body (too large,
 * not JSON, or never sent), and the gateway neither buffers nor parses it. No tokens: open
 * intake, which buildGateway allows only when asked to (WEBHOOK_ALLOW_ANONYMOUS=true).
 */
export function requireToken(tokens: readonly string[]) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (tokens.length === 0) return;
    if (!tokenAllowed(presentedToken(request.headers.authorization), tokens)) {
      // The unread body is not worth keeping the connection for.
      return reply.code(401).header('www-authenticate', 'Bearer realm="sentryhub"').header('connection', 'close').send({ error: 'missing or invalid token' });
    }
  };
}

/** Why a gateway cannot be built with these tokens, or null: open intake must be asked for. */
export function anonymousIntakeProblem(tokens: readonly string[], allowAnonymous: boolean): string | null {
  if (tokens.length > 0 || allowAnonymous) return null;
  return 'no intake tokens (WEBHOOK_TOKENS) and anonymous intake not allowed (WEBHOOK_ALLOW_ANONYMOUS=true)';
}
