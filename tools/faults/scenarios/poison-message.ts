import { EXCHANGES, QUEUES, ROUTING_KEYS } from '@sentryhub/contracts';
import amqp from 'amqplib';
import { waitFor } from '@sentryhub/testing';
import { AlertLoad, sleep } from '../harness/load';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const RATE = 500;
const RETRY_DELAYS_MS = '200,400,800';

/**
 * A message another producer put on the `alerts` exchange: valid JSON and valid to the
 * processor's schema, but PostgreSQL refuses its generatorURL (a NUL byte cannot be stored
 * in text), so storing it throws every time. The gateway refuses such text at intake; a
 * producer that bypasses the gateway does not.
 */
function poison() {
  return {
    id: 'poison-1',
    receivedAt: new Date().toISOString(),
    source: 'api',
    meta: {},
    alerts: [
      {
        fingerprint: '0123456789abcdef',
        status: 'firing',
        labels: { alertname: 'Poison', team: 'faults' },
        annotations: { summary: 'poison' },
        startsAt: new Date().toISOString(),
        endsAt: null,
        generatorURL: 'http://prometheus/\u0000',
        extra: {},
      },
    ],
  };
}

/**
 * Scenario 4: one poison message among good traffic at 500 alerts/s. It must reach the
 * processor's dead-letter queue after its retries with the error attached, while good
 * traffic goes on: its messages are stored at no less than 90 % of the rate they arrive.
 */
export const poisonMessage: Scenario = {
  name: 'poison-message',
  title: 'a poison message among good traffic',
  async run() {
    const stack = await startFaultStack({ label: 'fault-poison', env: { MESSAGE_RETRY_DELAYS_MS: RETRY_DELAYS_MS } });
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
    const checks = new Checks();
    const connection = await amqp.connect(stack.vhost.url);
    try {
      const channel = await connection.createConfirmChannel();
      const storedCount = async () =>
        Number(
          (
            await stack.db.db
              .selectFrom('alert_groups')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const sending = load.run(RATE * 16, RATE);
      await sleep(3_000);
      const windowStart = { at: Date.now(), stored: await storedCount(), sent: load.sent };
      channel.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), Buffer.from(JSON.stringify(poison())), {
        persistent: true,
        messageId: 'poison-1',
        contentType: 'application/json',
      });
      await channel.waitForConfirms();
      const dead = await waitFor(
        () => channel.get(`${QUEUES.alertProcessorAlertsReceived}.dead`, { noAck: true }).then((message) => message || null),
        30_000,
        'the poison in the dead letters',
      );
      await sleep(3_000);
      const windowEnd = { at: Date.now(), stored: await storedCount(), sent: load.sent };
      await sending;
      const summary = await settle(stack, load);

      const seconds = (windowEnd.at - windowStart.at) / 1000;
      const offered = (windowEnd.sent - windowStart.sent) / seconds;
      const storedRate = (windowEnd.stored - windowStart.stored) / seconds;
      const error = String(dead.properties.headers?.['x-error'] ?? '');
      checks.that('the poison reached the dead-letter queue', dead.properties.messageId === 'poison-1', dead.properties.messageId);
      checks.that('after its retries, with the error attached', /^retries exhausted after 3 attempts: .*0x00/.test(error), error);
      checks.that(
        'good traffic kept at least 90 % of its rate while the poison was retried',
        storedRate >= 0.9 * offered,
        `stored ${storedRate.toFixed(0)}/s of ${offered.toFixed(0)}/s sent over ${seconds} s`,
      );
      checks.that(
        'the poison alert was not stored',
        !(await stack.db.db.selectFrom('alert_groups').select('id').where('name', '=', 'Poison').executeTakeFirst()),
      );
      checks.nothingLostOrDuplicated(summary);
      return {
        summary,
        checks: checks.list,
        facts: { 'dead letter x-error': error, 'good rate while poisoned (stored/s of sent/s)': `${storedRate.toFixed(0)} / ${offered.toFixed(0)}` },
      };
    } finally {
      await connection.close();
      await load.close();
      await stack.destroy();
    }
  },
};
