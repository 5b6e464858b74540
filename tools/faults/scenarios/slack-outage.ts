import { AlertLoad, sleep } from '../harness/load';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const WINDOW_MS = 30_000;
const RETRY_AFTER_S = 5;
/** A request that left before the 429 reached the notifier may land just after it. */
const IN_FLIGHT_TOLERANCE_MS = 250;

/**
 * Scenario 5: the Slack stand-in answers 429 with `Retry-After: 5` for 30 s, then 500 for
 * 30 s, then 200, while 1,000 alerts arrive over the first 20 s. No request may arrive within
 * Retry-After of a 429, and afterwards every notification is delivered exactly once.
 */
export const slackOutage: Scenario = {
  name: 'slack-outage',
  title: 'Slack answers 429 (Retry-After: 5) for 30 s, then 500 for 30 s',
  async run() {
    const stack = await startFaultStack({ label: 'fault-slack' });
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 20 });
    const checks = new Checks();
    const rateLimitedAt: number[] = [];
    try {
      const began = Date.now();
      stack.slack.respondWith(() => {
        const elapsed = Date.now() - began;
        if (elapsed < WINDOW_MS) {
          rateLimitedAt.push(Date.now());
          return { status: 429, body: 'rate_limited', headers: { 'retry-after': String(RETRY_AFTER_S) } };
        }
        if (elapsed < 2 * WINDOW_MS) return { status: 500, body: 'internal_error' };
        return { status: 200, body: 'ok' };
      });
      await load.run(1_000, 50);
      await sleep(Math.max(0, began + 2 * WINDOW_MS - Date.now()));
      const summary = await settle(stack, load, { timeoutMs: 240_000 });

      const early = stack.slack.requests.filter((request) =>
        rateLimitedAt.some((at) => request.receivedAt > at + IN_FLIGHT_TOLERANCE_MS && request.receivedAt < at + RETRY_AFTER_S * 1000),
      );
      const failed = await stack.db.db.selectFrom('notifications').select(['id', 'status', 'last_error']).where('status', '!=', 'sent').execute();
      checks.that('Slack was asked during the 429 window', rateLimitedAt.length > 0, `${rateLimitedAt.length} answers 429`);
      checks.that('no request before Retry-After had passed', early.length === 0, `${early.length} requests within ${RETRY_AFTER_S} s of a 429`);
      checks.that('every notification row ended sent', failed.length === 0, failed.slice(0, 5));
      checks.nothingLostOrDuplicated(summary);
      return {
        summary,
        checks: checks.list,
        facts: {
          '429 answers': rateLimitedAt.length,
          'Slack requests in all': stack.slack.requests.length,
          'all delivered after (s)': Math.round((Date.now() - began) / 1000),
        },
      };
    } finally {
      await load.close();
      await stack.destroy();
    }
  },
};
