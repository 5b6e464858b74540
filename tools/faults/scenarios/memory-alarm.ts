import { waitFor } from '@sentryhub/testing';
import { AlertLoad, sleep } from '../harness/load';
import { rabbitmq, rssBytes } from '../harness/infra';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const RATE = 300;
const ALARM_MS = 10_000;
const PUBLISH_TIMEOUT_MS = 5_000;
const MB = 1024 * 1024;

/**
 * Scenario 7: RabbitMQ's memory alarm (a watermark far below what it uses) blocks every
 * publisher for 10 s while alerts arrive at 300/s. The gateway must answer 503 within its
 * publish timeout, hold nothing for the blocked broker (its memory stays flat), and accept
 * again once the alarm clears. Refused alerts are sent again afterwards.
 */
export const memoryAlarm: Scenario = {
  name: 'memory-alarm',
  title: 'RabbitMQ memory alarm blocks publishers for 10 s',
  async run() {
    const stack = await startFaultStack({ label: 'fault-alarm', env: { PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS) } });
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
    const checks = new Checks();
    const watermark = await rabbitmq.watermark();
    let alarmOn = false;
    try {
      const [gateway] = stack.running('webhook-gateway');
      const sending = load.run(RATE * 25, RATE);
      await sleep(4_000);
      const rssBefore = rssBytes(gateway?.process.pid);
      let rssPeak = rssBefore;
      await rabbitmq.setWatermark('0.000001');
      alarmOn = true;
      const alarmAt = Date.now();
      // The first 503 after the alarm: the broker's connection.blocked reached the gateway.
      await waitFor(() => (load.answers.some((answer) => answer.sentAt > alarmAt && answer.status === 503) ? true : null), 15_000, 'a 503 during the alarm');
      while (Date.now() < alarmAt + ALARM_MS) {
        rssPeak = Math.max(rssPeak, rssBytes(gateway?.process.pid));
        await sleep(200);
      }
      // rabbitmqctl takes a while: the alarm may clear before it returns.
      const clearingAt = Date.now();
      await rabbitmq.setWatermark(watermark);
      alarmOn = false;
      const clearedAt = Date.now();
      const recovered = await waitFor(
        () => load.answers.find((answer) => answer.sentAt > clearedAt && answer.status === 202) ?? null,
        30_000,
        'a 202 after the alarm cleared',
      );
      await sending;
      await load.resend(RATE);
      const summary = await settle(stack, load);

      const during = load.answers.filter((answer) => answer.sentAt >= alarmAt + 500 && answer.at <= clearingAt);
      const slowest = Math.max(0, ...during.map((answer) => answer.at - answer.sentAt));
      checks.that('during the alarm the gateway answered 503', during.length > 0 && during.every((answer) => answer.status === 503), load.statusCounts(during));
      checks.that('each within the publish timeout', slowest <= PUBLISH_TIMEOUT_MS + 1_000, `slowest ${slowest} ms, timeout ${PUBLISH_TIMEOUT_MS} ms`);
      checks.that('accepting again once the alarm cleared', recovered.at - clearedAt < 30_000, `${recovered.at - clearedAt} ms`);
      checks.that(
        'gateway memory did not balloon (under +50 MB)',
        rssPeak - rssBefore < 50 * MB,
        `${(rssBefore / MB).toFixed(0)} MB -> peak ${(rssPeak / MB).toFixed(0)} MB`,
      );
      checks.that('the resent alerts were all accepted', load.rejectedIndexes().length === 0, `${load.rejectedIndexes().length} never accepted`);
      checks.nothingLostOrDuplicated(summary);
      return {
        summary,
        checks: checks.list,
        facts: {
          'answers during the alarm': load.statusCounts(during),
          'slowest answer during the alarm (ms)': slowest,
          'gateway RSS before / peak (MB)': `${(rssBefore / MB).toFixed(0)} / ${(rssPeak / MB).toFixed(0)}`,
          'first 202 after the alarm cleared (ms)': recovered.at - clearedAt,
        },
      };
    } finally {
      if (alarmOn) await rabbitmq.setWatermark(watermark);
      await load.close();
      await stack.destroy();
    }
  },
};
