import { AlertLoad, sleep } from '../harness/load';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const TOTAL = 10_000;
const RATE = 500;
const KILLS = 5;

/**
 * Scenario 2: the alert-processor is SIGKILLed five times while 10,000 alerts arrive at
 * 500/s, and started again each time (as a supervisor would). Whatever it was doing (a batch
 * half written, committed but not acked, events in the outbox not yet published), nothing may
 * be lost or duplicated.
 */
export const processorKills: Scenario = {
  name: 'processor-kills',
  title: 'alert-processor killed with SIGKILL five times during 10,000 alerts',
  async run() {
    const stack = await startFaultStack({ label: 'fault-kill' });
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
    const checks = new Checks();
    try {
      const sending = load.run(TOTAL, RATE);
      const killedAt: number[] = [];
      for (let kill = 0; kill < KILLS; kill++) {
        await sleep(2_500);
        const [processor] = stack.running('alert-processor');
        if (!processor) break;
        killedAt.push(load.sent);
        await stack.kill(processor, 'SIGKILL');
        await stack.start('alert-processor');
      }
      await sending;
      const summary = await settle(stack, load);
      checks.that(`the processor was killed ${KILLS} times`, killedAt.length === KILLS, killedAt);
      checks.that('every request was accepted (the gateway does not depend on the processor)', load.rejectedIndexes().length === 0, load.statusCounts());
      checks.nothingLostOrDuplicated(summary);
      return { summary, checks: checks.list, facts: { 'killed after alerts sent': killedAt } };
    } finally {
      await load.close();
      await stack.destroy();
    }
  },
};
