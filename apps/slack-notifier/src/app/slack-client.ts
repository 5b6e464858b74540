import type { Logger } from '@sentryhub/service-runtime';
import { Pool } from 'undici';

export interface SlackMessage {
  channel: string;
  text: string;
}

/**
 * What one delivery attempt came to:
 * - `sent`: Slack answered 2xx `ok`;
 * - `rejected`: Slack refused the message (4xx other than 429): sending it again cannot help;
 * - `retry`: 429 (`rateLimited`), 5xx, a network failure or an unexpected body: worth trying
 *   again later.
 */
export type DeliveryResult = { outcome: 'sent' } | { outcome: 'rejected'; error: string } | { outcome: 'retry'; error: string; rateLimited: boolean };

export interface SlackSender {
  /** `sink` when messages only go to the log (no SLACK_INTERNAL_ENDPOINT). */
  readonly mode: 'http' | 'sink';
  deliver(message: SlackMessage, logger: Logger): Promise<DeliveryResult>;
  /** Resolves once the endpoint may be called again (after a 429's Retry-After). */
  whenOpen(): Promise<void>;
  close(): Promise<void>;
}

export interface SlackSenderOptions {
  /** SLACK_INTERNAL_ENDPOINT; undefined selects the log sink. */
  endpoint: string | undefined;
  timeoutMs: number;
}

/** Used when a 429 carries no usable Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 1_000;
/** A Retry-After beyond this is treated as this: a worker never stalls for hours on one header. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;
/** Slack's error bodies are short words (`channel_not_found`); anything longer is cut for the row. */
const MAX_ERROR_BODY = 1_000;

/** Retry-After in milliseconds: delta-seconds or an HTTP date (RFC 9110), bounded. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number {
  const raw = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!raw) return DEFAULT_RETRY_AFTER_MS;
  let delay: number;
  if (/^\d+(\.\d+)?$/.test(raw)) delay = Number(raw) * 1_000;
  else {
    const at = Date.parse(raw);
    if (Number.isNaN(at)) return DEFAULT_RETRY_AFTER_MS;
    delay = at - now;
  }
  return Math.min(Math.max(delay, 0), MAX_RETRY_AFTER_MS);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Messages go to the log only: the embedded default for a trial run (docs/contracts.md §7.1). */
function createSlackSink(): SlackSender {
  return {
    mode: 'sink',
    deliver: async (message, logger) => {
      logger.info({ slackSink: true, channel: message.channel, text: message.text }, 'slack message (sink)');
      return { outcome: 'sent' };
    },
    whenOpen: async () => undefined,
    close: async () => undefined,
  };
}

/**
 * One pooled undici client for the Slack endpoint (the nginx proxy). A 429 closes the
 * endpoint until its Retry-After has passed: every later delivery waits for that first.
 */
function createHttpSender(endpoint: string, timeoutMs: number): SlackSender {
  const url = new URL(endpoint);
  const path = `${url.pathname}${url.search}`;
  const pool = new Pool(url.origin, {
    connections: 8,
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    maxResponseSize: 64 * 1024,
  });
  let blockedUntil = 0;

  const whenOpen = async () => {
    for (let wait = blockedUntil - Date.now(); wait > 0; wait = blockedUntil - Date.now()) await sleep(wait);
  };

  const deliver = async (message: SlackMessage): Promise<DeliveryResult> => {
    await whenOpen();
    let statusCode: number;
    let body: string;
    let retryAfter: string | string[] | undefined;
    try {
      const response = await pool.request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel: message.channel, text: message.text }),
      });
      statusCode = response.statusCode;
      retryAfter = response.headers['retry-after'];
      body = (await response.body.text()).trim().slice(0, MAX_ERROR_BODY);
    } catch (error) {
      return { outcome: 'retry', error: `Slack request failed: ${error instanceof Error ? error.message : String(error)}`, rateLimited: false };
    }
    if (statusCode >= 200 && statusCode < 300) {
      return body === 'ok' ? { outcome: 'sent' } : { outcome: 'retry', error: `Slack answered ${statusCode} without "ok": ${body || '(empty body)'}`, rateLimited: false };
    }
    if (statusCode === 429) {
      const delay = retryAfterMs(retryAfter);
      blockedUntil = Math.max(blockedUntil, Date.now() + delay);
      return { outcome: 'retry', error: `Slack rate limited (429); retry after ${delay} ms${body ? `: ${body}` : ''}`, rateLimited: true };
    }
    const error = `Slack answered ${statusCode}: ${body || '(empty body)'}`;
    return statusCode >= 400 && statusCode < 500 ? { outcome: 'rejected', error } : { outcome: 'retry', error, rateLimited: false };
  };

  return {
    mode: 'http',
    deliver: (message) => deliver(message),
    whenOpen,
    close: () => pool.close(),
  };
}

export function createSlackSender(options: SlackSenderOptions): SlackSender {
  return options.endpoint ? createHttpSender(options.endpoint, options.timeoutMs) : createSlackSink();
}
