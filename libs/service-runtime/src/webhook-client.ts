import { createHmac } from 'node:crypto';
import { retryAfterGate, type RetryAfterGate } from './retry-after';
import type { WebhookReceiver } from './webhook-receivers';
import { Pool } from 'undici';

/** One body to post to a receiver. */
export interface WebhookRequest {
  receiver: string;
  /** The body with the receiver's params already in place. */
  body: string;
  kind: 'firing' | 'resolved';
  /** The episode's key: replaces `{dedup_key}` in a receiver's resolvedPath. */
  dedupKey: string;
  /** Sent as `X-SentryHub-Notification`: the same on every attempt, so a receiver can drop a repeat (`test-…` for the admin's test send). */
  notificationId: number | string;
}

/**
 * What one attempt came to:
 * - `sent`: the receiver answered 2xx;
 * - `rejected`: it refused the body (4xx other than 408, 425 and 429), or no such receiver is
 *   configured: sending again cannot help;
 * - `retry`: 429 (`rateLimited`, after its Retry-After), 408, 425, 5xx, a timeout or a network
 *   failure: worth trying again later.
 */
export type WebhookResult =
  { outcome: 'sent'; status: number } | { outcome: 'rejected'; error: string } | { outcome: 'retry'; error: string; rateLimited: boolean };

export interface WebhookClient {
  deliver(request: WebhookRequest): Promise<WebhookResult>;
  /** Resolves once the receiver may be called again (after a 429's Retry-After). */
  whenOpen(receiver: string): Promise<void>;
  close(): Promise<void>;
}

/** Only this much of an error answer is kept (for the row's last_error). */
const MAX_ERROR_BODY = 500;

/** `sha256=<hex>` of the body under the key: what the signature header carries. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** The path and query a request goes to: the URL's, or the receiver's resolvedPath for a resolved notice. */
export function requestPath(receiver: Pick<WebhookReceiver, 'url' | 'resolvedPath'>, kind: 'firing' | 'resolved', dedupKey: string): string {
  if (kind === 'resolved' && receiver.resolvedPath !== null) return receiver.resolvedPath.replaceAll('{dedup_key}', encodeURIComponent(dedupKey));
  return `${receiver.url.pathname}${receiver.url.search}`;
}

/** At most `limit` characters of a response body; the rest is discarded without being read into memory. */
async function readLimited(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += chunk.toString('utf8');
    if (text.length >= limit) {
      body.destroy();
      break;
    }
  }
  return text.slice(0, limit).trim();
}

/**
 * One pooled undici client per receiver, with the receiver's timeouts for connect, headers and
 * body. A 429 closes that receiver until its Retry-After has passed: every later delivery to it
 * waits for that first. Header values and the HMAC key are never logged or returned.
 */
export function createWebhookClient(receivers: ReadonlyMap<string, WebhookReceiver>): WebhookClient {
  const pools = new Map<string, Pool>();
  const gates = new Map<string, RetryAfterGate>();

  const poolOf = (receiver: WebhookReceiver): Pool => {
    let pool = pools.get(receiver.name);
    if (!pool) {
      pool = new Pool(receiver.url.origin, {
        connections: 8,
        connectTimeout: receiver.timeoutMs,
        headersTimeout: receiver.timeoutMs,
        bodyTimeout: receiver.timeoutMs,
      });
      pools.set(receiver.name, pool);
    }
    return pool;
  };

  const gateOf = (name: string): RetryAfterGate => {
    let gate = gates.get(name);
    if (!gate) {
      gate = retryAfterGate();
      gates.set(name, gate);
    }
    return gate;
  };

  const whenOpen = async (name: string) => {
    await gates.get(name)?.whenOpen();
  };

  const deliver = async (request: WebhookRequest): Promise<WebhookResult> => {
    const receiver = receivers.get(request.receiver);
    if (!receiver) return { outcome: 'rejected', error: `receiver "${request.receiver}" is not configured (WEBHOOK_RECEIVERS_FILE)` };
    await whenOpen(receiver.name);
    const headers: Record<string, string> = {
      ...receiver.headers,
      'content-type': 'application/json',
      'user-agent': 'SentryHub-webhook-notifier',
      'x-sentryhub-notification': String(request.notificationId),
    };
    if (receiver.hmacSecret !== null) headers[receiver.signatureHeader.toLowerCase()] = signBody(request.body, receiver.hmacSecret);
    let statusCode: number;
    let text: string;
    let retryAfter: string | string[] | undefined;
    try {
      const response = await poolOf(receiver).request({
        path: requestPath(receiver, request.kind, request.dedupKey),
        method: 'POST',
        headers,
        body: request.body,
      });
      statusCode = response.statusCode;
      retryAfter = response.headers['retry-after'];
      text = await readLimited(response.body, MAX_ERROR_BODY);
    } catch (error) {
      return {
        outcome: 'retry',
        error: `receiver ${receiver.name}: request failed: ${error instanceof Error ? error.message : String(error)}`,
        rateLimited: false,
      };
    }
    if (statusCode >= 200 && statusCode < 300) return { outcome: 'sent', status: statusCode };
    const answer = `receiver ${receiver.name} answered ${statusCode}${text ? `: ${text}` : ''}`;
    if (statusCode === 429) {
      const delay = gateOf(receiver.name).rateLimited(retryAfter);
      return { outcome: 'retry', error: `${answer} (retry after ${delay} ms)`, rateLimited: true };
    }
    if (statusCode >= 400 && statusCode < 500 && statusCode !== 408 && statusCode !== 425) return { outcome: 'rejected', error: answer };
    return { outcome: 'retry', error: answer, rateLimited: false };
  };

  return {
    deliver,
    whenOpen,
    close: async () => {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      pools.clear();
    },
  };
}
