import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { QUEUES } from '@sentryhub/contracts';
import { waitFor } from '@sentryhub/testing';
import { AlertLoad, sleep } from '../harness/load';
import { isReady } from '../harness/infra';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { TcpProxy } from '../harness/tcp-proxy';
import { settle } from '../harness/verify';

const exec = promisify(execFile);
const HEARTBEAT_S = 2;
const CUT_MS = 10_000;

/**
 * Scenario 6: the alert-processor reaches RabbitMQ through a TCP proxy that first delays
 * traffic, then blackholes it for 10 s (no FIN, no RST: a cut cable), then passes it again.
 * With a 2 s heartbeat the processor must notice at the second missed heartbeat (readiness
 * goes down), reconnect and re-subscribe when the cut ends, and lose nothing.
 */
export const networkCut: Scenario = {
  name: 'network-cut',
  title: 'network cut between alert-processor and RabbitMQ (TCP proxy: delay, then blackhole)',
  async run() {
    const proxy = new TcpProxy({ host: '127.0.0.1', port: 5672 });
    const proxyPort = await proxy.listen();
    // The processor is started once the vhost exists, with its URL through the proxy.
    const stack = await startFaultStack({ label: 'fault-cut', workers: ['slack-notifier'] });
    const url = new URL(stack.vhost.url);
    url.port = String(proxyPort);
    url.searchParams.set('heartbeat', String(HEARTBEAT_S));
    const load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
    const checks = new Checks();
    try {
      const processor = await stack.start('alert-processor', { RABBITMQ_URL: url.toString() });
      const sending = load.run(500 * 24, 500);
      proxy.setMode({ kind: 'delay', ms: 50 });
      await sleep(3_000);
      proxy.setMode({ kind: 'blackhole' });
      const cutAt = Date.now();
      const detectedAt = await waitFor(async () => ((await isReady(processor)) ? null : Date.now()), CUT_MS, 'the processor to notice the cut');
      await sleep(Math.max(0, cutAt + CUT_MS - Date.now()));
      proxy.setMode({ kind: 'pass' });
      const healedAt = Date.now();
      const readyAt = await waitFor(async () => ((await isReady(processor)) ? Date.now() : null), 60_000, 'the processor to be ready again');
      const consumers = await waitFor(
        async () => {
          const { stdout } = await exec('rabbitmqctl', ['-q', 'list_consumers', '-p', stack.vhost.vhost, 'queue_name', '--no-table-headers'], {
            timeout: 60_000,
          });
          return stdout.split('\n').some((line) => line.trim() === QUEUES.alertProcessorAlertsReceived) ? stdout : null;
        },
        30_000,
        'the processor to consume again',
      );
      await sending;
      const summary = await settle(stack, load, { timeoutMs: 120_000 });

      const detectMs = detectedAt - cutAt;
      // amqplib checks every heartbeat interval whether a frame arrived since its last check and
      // declares the connection dead at the second consecutive check that saw none: two missed
      // heartbeats, which is 2 to 3 intervals after the cut depending on the checks' phase
      // (the broker's own heartbeats arrive every half interval). Plus ~100 ms of readiness poll.
      checks.that(
        'the cut was detected at the second missed heartbeat',
        detectMs <= 3 * HEARTBEAT_S * 1000 + 500,
        `${detectMs} ms with a ${HEARTBEAT_S} s heartbeat`,
      );
      checks.that('the processor opened a new connection through the proxy', proxy.accepted >= 2, `${proxy.accepted} connections in all`);
      checks.that('and re-subscribed to its queue', consumers.includes(QUEUES.alertProcessorAlertsReceived));
      checks.that('every request was accepted (the gateway was not cut)', load.rejectedIndexes().length === 0, load.statusCounts());
      checks.nothingLostOrDuplicated(summary);
      return { summary, checks: checks.list, facts: { 'cut detected after (ms)': detectMs, 'ready again after the cut ended (ms)': readyAt - healedAt } };
    } finally {
      await load.close();
      await stack.destroy();
      await proxy.close();
    }
  },
};
