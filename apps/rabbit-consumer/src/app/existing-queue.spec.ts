import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AlertReceived, deadLetterQueueName, EXCHANGES, HEADERS, QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestVhost, waitFor, type TestVhost } from '@sentryhub/testing';
import amqp, { type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureExternalQueue, externalIntakeTopology, subscribeExternalIntake } from './external-intake';

/*
 * The external queue often exists before this consumer first starts: existing publishers declare
 * it themselves (pika's queue_declare(queue, durable=True)), and an earlier build of this
 * consumer declared it with x-dead-letter-* arguments. RabbitMQ refuses (406
 * PRECONDITION_FAILED) a declaration whose arguments differ, so the consumer must start and
 * consume either queue as it is, messages already waiting in it included.
 */

const run = promisify(execFile);
const logger = createLogger('rabbit-consumer-test', 'silent');

let vhost: TestVhost;
let connection: ChannelModel | undefined;
let channel: ConfirmChannel;

beforeAll(async () => {
  vhost = await createTestVhost('rabbit-consumer-existing');
  connection = await amqp.connect(vhost.url);
  channel = await connection.createConfirmChannel();
});

afterAll(async () => {
  await connection?.close();
  await vhost?.destroy();
});

async function queueArguments(queue: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', '-p', vhost.vhost, 'name', 'durable', 'arguments', '--formatter', 'json'], {
    timeout: 60_000,
  });
  const row = (JSON.parse(stdout) as { name: string; durable: boolean; arguments: [string, string, unknown][] }[]).find(
    (candidate) => candidate.name === queue,
  );
  if (!row?.durable) throw new Error(`durable queue ${queue} not found`);
  // rabbitmqctl prints queue arguments as [name, type, value] triples.
  return Object.fromEntries(row.arguments.map(([name, , value]) => [name, value]));
}

const declarations: { name: string; queue: string; options: Options.AssertQueue }[] = [
  { name: 'by an existing publisher: durable, without arguments', queue: 'seed_alerts_external', options: { durable: true } },
  {
    name: 'by an earlier build of this consumer: with x-dead-letter-* arguments',
    queue: 'earlier_alerts_external',
    options: { durable: true, arguments: { 'x-dead-letter-exchange': EXCHANGES.deadLetter, 'x-dead-letter-routing-key': 'earlier_alerts_external' } },
  },
];

describe('an external queue that exists before the consumer starts', () => {
  it.each(declarations)('declared $name: the consumer starts, consumes what waits there, and leaves the queue as it is', async ({ queue, options }) => {
    await channel.assertQueue(queue, options);
    const argumentsBefore = await queueArguments(queue);
    // Sent before the consumer has ever run: it declares <queue>.dead only when it starts.
    channel.sendToQueue(queue, Buffer.from(JSON.stringify({ labels: { alertname: 'WaitingAlready' } })), { persistent: true, messageId: `${queue}-good` });
    channel.sendToQueue(queue, Buffer.from('{"labels": '), { persistent: true, messageId: `${queue}-bad` });
    await channel.waitForConfirms();

    // Every node of a cluster, the first refusing connections (nothing listens on port 1): the check goes on to the next.
    expect(await ensureExternalQueue({ url: ['amqp://guest:guest@127.0.0.1:1/', vhost.url] }, queue)).toBe('found');
    const topology = externalIntakeTopology({ RABBITMQ_EXTERNAL_QUEUE: queue, RABBITMQ_PREFETCH: 5 });
    const messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, ...topology, retryDelayMs: 200 }), { logger });
    try {
      const subscription = await subscribeExternalIntake(messaging, {
        queue,
        logger,
        registry: new Registry(),
        broker: { url: vhost.url, socketOptions: topology.socketOptions },
        bodyLimitBytes: 1_048_576,
        retryDelayMs: 200,
      });
      try {
        const republished = await waitFor(
          async () => (await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true })) || null,
          15_000,
          'the republished alert',
        );
        const body = AlertReceived.parse(JSON.parse(republished.content.toString('utf8')));
        expect(body).toMatchObject({ id: `${queue}-good`, source: 'external', alerts: [{ labels: { alertname: 'WaitingAlready' } }] });

        const dead = await waitFor(async () => (await channel.get(deadLetterQueueName(queue), { noAck: true })) || null, 15_000, 'the dead letter');
        expect(dead.properties.messageId).toBe(`${queue}-bad`);
        expect(String(dead.properties.headers?.[HEADERS.error])).toMatch(/^invalid JSON: /);
        expect(dead.properties.headers?.[HEADERS.originalQueue]).toBe(queue);
      } finally {
        await subscription.cancel();
      }
    } finally {
      await messaging.shutdown();
    }
    expect(await queueArguments(queue)).toEqual(argumentsBefore);
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
  });
});
