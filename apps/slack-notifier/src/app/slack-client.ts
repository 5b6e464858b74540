import { retryAfterGate, type Logger } from '@sentryhub/service-runtime';
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

/** Slack's error bodies are short words (`channel_not_found`); anything longer is cut for the row. */
const MAX_ERROR_BODY = 1_000;

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
  const gate = retryAfterGate();
  const whenOpen = () => gate.whenOpen();

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
      return body === 'ok'
        ? { outcome: 'sent' }
        : { outcome: 'retry', error: `Slack answered ${statusCode} without "ok": ${body || '(empty body)'}`, rateLimited: false };
    }
    if (statusCode === 429) {
      const delay = gate.rateLimited(retryAfter);
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
