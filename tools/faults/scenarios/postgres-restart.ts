import { QUEUES } from '@sentryhub/contracts';
import { AlertLoad, sleep } from '../harness/load';
import { cpuSeconds, deadLetters, metricValue, postgres } from '../harness/infra';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const RATE = 200;
const OUTAGE_MS = 30_000;

/**
 * Scenario 3: PostgreSQL stopped for 30 s while alerts arrive at 200/s. The gateway does not
 * need the database and keeps accepting; the processor and the notifier wait (messages go
 * round the outage retry queue every few seconds without using up a retry: no hot loop, no
 * dead letter) and the backlog drains once the database is back.
 */
export const postgresRestart: Scenario = {
  name: 'postgres-restart',
  title: 'PostgreSQL stopped for 30 s under load',
  async run() {
    const stack = await startFaultStack({ label: 'fault-pg' });
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
    const checks = new Checks();
    let databaseDown = false;
    try {
      const sending = load.run(RATE * 45, RATE);
      await sleep(5_000);
      const [processor] = stack.running('alert-processor');
      const [notifier] = stack.running('slack-notifier');
      const retriedBefore = processor
        ? await metricValue(processor, 'sentryhub_messages_consumed_total', { queue: QUEUES.alertProcessorAlertsReceived, outcome: 'retried' })
        : 0;
      const cpuBefore = [cpuSeconds(processor?.process.pid), cpuSeconds(notifier?.process.pid)];
      const requestsBefore = load.answers.length;
      await postgres.stop();
      databaseDown = true;
      const stoppedAt = Date.now();
      await sleep(OUTAGE_MS);
      const cpuDuring = [cpuSeconds(processor?.process.pid) - (cpuBefore[0] ?? 0), cpuSeconds(notifier?.process.pid) - (cpuBefore[1] ?? 0)];
      const retried = processor
        ? (await metricValue(processor, 'sentryhub_messages_consumed_total', { queue: QUEUES.alertProcessorAlertsReceived, outcome: 'retried' })) -
          retriedBefore
        : 0;
      const requestsDuring = load.answers.length - requestsBefore;
      await postgres.start();
      databaseDown = false;
      const outageMs = Date.now() - stoppedAt;
      await sending;
      const summary = await settle(stack, load, { timeoutMs: 180_000 });
      const dead = await deadLetters(stack.vhost.url);

      const seconds = outageMs / 1000;
      checks.that('the gateway kept accepting while the database was down', load.rejectedIndexes().length === 0, load.statusCounts());
      // The outage retry queue holds a message 5 s: each message comes round at most ~once per 5 s.
      checks.that(
        'no hot retry loop: each message retried at most once per outage delay',
        retried <= requestsDuring * (seconds / 5 + 2),
        `${retried} retries of ${requestsDuring} requests' messages in ${seconds} s`,
      );
      checks.that(
        'no hot loop: processor and notifier used under half a core while waiting',
        cpuDuring.every((cpu) => cpu / seconds < 0.5),
        `CPU seconds during ${seconds} s: processor ${cpuDuring[0]}, notifier ${cpuDuring[1]}`,
      );
      checks.that(
        'no good message dead-lettered',
        Object.values(dead).every((count) => count === 0),
        dead,
      );
      checks.nothingLostOrDuplicated(summary);
      return {
        summary,
        checks: checks.list,
        facts: {
          'database down (ms)': outageMs,
          'processor retries during the outage': retried,
          'CPU seconds during the outage (processor, notifier)': cpuDuring,
          'dead letters': dead,
        },
      };
    } finally {
      if (databaseDown) await postgres.start();
      await load.close();
      await stack.destroy();
    }
  },
};
