import { AlertLoad, sleep } from '../harness/load';
import { allReady, rabbitmq } from '../harness/infra';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const TOTAL = 10_000;
const RATE = 1_000;
/** Sent while the broker is down, whatever the main load has left to send by then. */
const PROBE_ALERTS = 400;
const PROBE_RATE = 100;

/**
 * Scenario 1: `rabbitmqctl stop_app` three seconds into 10,000 alerts at 1,000/s, `start_app`
 * five seconds later. Once the broker is stopped, 400 more alerts go out at 100/s (stop_app can
 * take longer than the main load lasts). The gateway must answer 503 (never 2xx) while it has no confirm; every
 * alert that got a 2xx must be stored and notified exactly once; every service must be ready
 * again within 30 s of the broker. Alerts answered 503 are sent again afterwards, as
 * Alertmanager would.
 */
export const brokerRestart: Scenario = {
  name: 'broker-restart',
  title: 'RabbitMQ restarted (stop_app / start_app) in the middle of 10,000 alerts',
  async run() {
    const stack = await startFaultStack({ label: 'fault-broker' });
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
    const checks = new Checks();
    let brokerDown = false;
    try {
      const sending = load.run(TOTAL, RATE);
      await sleep(3_000);
      const stopping = Date.now();
      brokerDown = true;
      await rabbitmq.stopApp();
      const stopped = Date.now();
      const probing = load.run(PROBE_ALERTS, PROBE_RATE);
      await sleep(5_000);
      await rabbitmq.startApp();
      brokerDown = false;
      const brokerBack = Date.now();
      const readyAt = await allReady(stack.started, 60_000);
      await Promise.all([sending, probing]);
      const firstRound = load.statusCounts();
      await load.resend(RATE);
      const summary = await settle(stack, load);

      const during = load.answers.filter((answer) => answer.sentAt >= stopped && answer.at <= brokerBack);
      checks.that('requests sent while the broker was down got answers', during.length > 0, `${during.length} answers`);
      checks.that(
        'while the broker was down: 503, never a 2xx',
        during.every((answer) => answer.status === 503),
        load.statusCounts(during),
      );
      checks.that(
        'every refusal was a 503',
        load.answers.every((answer) => answer.status === 202 || answer.status === 503),
        load.statusCounts(),
      );
      checks.that('every service ready again within 30 s of the broker', readyAt - brokerBack <= 30_000, `${readyAt - brokerBack} ms`);
      checks.that('the resent alerts were all accepted', load.rejectedIndexes().length === 0, `${load.rejectedIndexes().length} never accepted`);
      checks.nothingLostOrDuplicated(summary);
      return {
        summary,
        checks: checks.list,
        facts: {
          'first round answers': firstRound,
          'stop_app took (ms)': stopped - stopping,
          'broker down (ms)': brokerBack - stopping,
          'services ready after start_app (ms)': readyAt - brokerBack,
          'answers while down': load.statusCounts(during),
        },
      };
    } finally {
      // Never leave the machine's broker stopped, whatever failed.
      if (brokerDown) await rabbitmq.startApp();
      await load.close();
      await stack.destroy();
    }
  },
};
