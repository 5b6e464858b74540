import { AlertLoad, sleep } from '../harness/load';
import { suspiciousLines } from '../harness/infra';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const RATE = 500;
const APPS = ['alert-processor', 'slack-notifier', 'webhook-gateway'];

/**
 * Scenario 8: SIGTERM to every service at once while alerts arrive at 500/s. Each must exit
 * with code 0 within 10 s, log no "unknown delivery tag" and no unhandled error, and lose
 * nothing: what was accepted is stored and notified once a new set of services is started;
 * what was refused during the shutdown is sent again.
 */
export const sigterm: Scenario = {
  name: 'sigterm',
  title: 'SIGTERM to every service at 500 alerts/s',
  async run() {
    const stack = await startFaultStack({ label: 'fault-term' });
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
    const checks = new Checks();
    try {
      const sending = load.run(RATE * 8, RATE);
      await sleep(4_000);
      const stopping = stack.started.slice();
      const exits = await Promise.all(
        stopping.map(async (service) => {
          const began = Date.now();
          const code = await stack.kill(service, 'SIGTERM');
          return { name: service.name, code, ms: Date.now() - began };
        }),
      );
      await sending;
      // A new set of services, as after a rolling restart; the gateway's port changes.
      for (const app of APPS.slice(0, 2)) await stack.start(app);
      const gateway = await stack.start('webhook-gateway');
      await load.retarget(`http://127.0.0.1:${gateway.port}`);
      await load.resend(RATE);
      const summary = await settle(stack, load);

      const suspicious = stopping.flatMap((service) => suspiciousLines(service).map((line) => `${service.name}: ${line}`));
      checks.that(
        'every service exited with code 0',
        exits.every((exit) => exit.code === 0),
        exits,
      );
      checks.that(
        'each within 10 s',
        exits.every((exit) => exit.ms <= 10_000),
        exits.map((exit) => `${exit.name} ${exit.ms} ms`).join(', '),
      );
      checks.that('no "unknown delivery tag" or unhandled error in the logs', suspicious.length === 0, suspicious.slice(0, 5));
      checks.nothingLostOrDuplicated(summary);
      return {
        summary,
        checks: checks.list,
        facts: { exits: exits.map((exit) => `${exit.name}: code ${exit.code} after ${exit.ms} ms`), 'answers before the restart': load.statusCounts() },
      };
    } finally {
      await load.close();
      await stack.destroy();
    }
  },
};
