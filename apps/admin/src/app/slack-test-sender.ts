import type { FastifyBaseLogger } from 'fastify';
import { request } from 'undici';

export interface SlackTester {
  send(channel: string, text: string, logger: FastifyBaseLogger): Promise<{ ok: true; via: 'slack' | 'sink' } | { ok: false; error: string }>;
}

/**
 * The rule "test" button: one message through the same nginx endpoint the notifier uses, or to
 * the log (the Slack sink) when none is configured. Success is a 2xx whose body is `ok`.
 */
export function slackTester(endpoint: string | undefined, timeoutMs = 10_000): SlackTester {
  return {
    async send(channel, text, logger) {
      if (!endpoint) {
        logger.info({ slackSink: true, channel, text }, 'slack test message (sink)');
        return { ok: true, via: 'sink' };
      }
      try {
        const response = await request(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ channel, text }),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const body = (await response.body.text()).trim();
        return response.statusCode < 300 && body === 'ok' ? { ok: true, via: 'slack' } : { ok: false, error: `${response.statusCode} ${body.slice(0, 200)}` };
      } catch (error) {
        return { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}
