import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createLogger } from '@sentryhub/service-runtime';
import { createTestVhost, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMessaging } from './broker';
import { buildBrokerConfig } from './topology';

const run = promisify(execFile);
const logger = createLogger('topology-test', 'silent');

/**
 * The contract of docs/contracts.md §4 and docs/architecture.md, written out by hand (not derived from
 * buildBrokerConfig) and compared with what RabbitMQ reports after a service declared it.
 */
const WORK = {
  'alert-processor.alerts-received': {
    exchange: 'alerts',
    key: 'alert.received.*',
    limits: { 'x-max-length': 200_000, 'x-max-length-bytes': 1_073_741_824, 'x-overflow': 'drop-head' },
  },
  'slack-notifier.alerts-processed': {
    exchange: 'alerts',
    key: 'alert.processed.*',
    limits: { 'x-max-length': 200_000, 'x-max-length-bytes': 1_073_741_824, 'x-overflow': 'drop-head' },
  },
  'email-notifier.alerts-processed': {
    exchange: 'alerts',
    key: 'alert.processed.*',
    limits: { 'x-message-ttl': 86_400_000, 'x-max-length': 200_000, 'x-max-length-bytes': 1_073_741_824, 'x-overflow': 'drop-head' },
  },
  'webhook-notifier.alerts-processed': {
    exchange: 'alerts',
    key: 'alert.processed.*',
    limits: { 'x-message-ttl': 86_400_000, 'x-max-length': 200_000, 'x-max-length-bytes': 1_073_741_824, 'x-overflow': 'drop-head' },
  },
  'admin.audit-events': {
    exchange: 'audit',
    key: 'audit.#',
    limits: { 'x-max-length': 200_000, 'x-max-length-bytes': 1_073_741_824, 'x-overflow': 'drop-head' },
  },
} as const;
const RETRY_TTLS = [1_000, 5_000, 30_000, 120_000];
const DEAD_LIMITS = {
  'x-queue-type': 'quorum',
  'x-delivery-limit': 1_000,
  'x-message-ttl': 1_209_600_000,
  'x-max-length': 100_000,
  'x-max-length-bytes': 536_870_912,
  'x-overflow': 'drop-head',
};
const RETRY_LIMITS = { 'x-queue-type': 'quorum', 'x-max-length': 50_000, 'x-overflow': 'reject-publish' };

interface QueueRow {
  name: string;
  type: string;
  durable: boolean;
  arguments: [string, string, unknown][];
}
interface BindingRow {
  source_name: string;
  destination_name: string;
  destination_kind: string;
  routing_key: string;
}

async function list<T>(vhost: string, command: string, ...columns: string[]): Promise<T[]> {
  const { stdout } = await run('rabbitmqctl', ['-q', command, '-p', vhost, ...columns, '--formatter', 'json'], { timeout: 60_000 });
  return JSON.parse(stdout) as T[];
}

// rabbitmqctl prints queue arguments as [name, type, value] triples.
const argumentsOf = (row: QueueRow | undefined) => Object.fromEntries((row?.arguments ?? []).map(([name, , value]) => [name, value]));

describe('the topology declared on a real RabbitMQ', () => {
  let vhost: TestVhost;
  let queues: QueueRow[];

  beforeAll(async () => {
    vhost = await createTestVhost('topology');
    const messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    await messaging.shutdown();
    queues = await list<QueueRow>(vhost.vhost, 'list_queues', 'name', 'type', 'durable', 'arguments');
  });

  afterAll(async () => {
    await vhost?.destroy();
  });

  it('declares the four topic exchanges, durable', async () => {
    const exchanges = await list<{ name: string; type: string; durable: boolean }>(vhost.vhost, 'list_exchanges', 'name', 'type', 'durable');
    const ours = exchanges.filter((exchange) => exchange.name !== '' && !exchange.name.startsWith('amq.'));
    expect(ours.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'alerts', type: 'topic', durable: true },
      { name: 'audit', type: 'topic', durable: true },
      { name: 'dead-letter', type: 'topic', durable: true },
      { name: 'notifications', type: 'topic', durable: true },
    ]);
  });

  it('declares exactly the work, dead-letter and retry queues of the contract', () => {
    const expected = Object.keys(WORK).flatMap((queue) => [queue, `${queue}.dead`, ...RETRY_TTLS.map((_, index) => `${queue}.retry.${index + 1}`)]);
    expect(queues.map((queue) => queue.name).sort()).toEqual(expected.sort());
    expect(queues.every((queue) => queue.durable)).toBe(true);
  });

  it.each(Object.entries(WORK))('%s is a quorum queue with a delivery limit, its dead-letter route and its limits', (name, spec) => {
    const row = queues.find((queue) => queue.name === name);
    expect(row?.type).toBe('quorum');
    expect(argumentsOf(row)).toEqual({
      'x-queue-type': 'quorum',
      'x-delivery-limit': 10,
      'x-dead-letter-exchange': 'dead-letter',
      'x-dead-letter-routing-key': name,
      ...spec.limits,
    });
  });

  it.each(Object.keys(WORK))(
    '%s.dead and its retry queues are quorum queues (replicated in a cluster), bounded, with the retry delays as TTL back to the work queue',
    (name) => {
      const dead = queues.find((queue) => queue.name === `${name}.dead`);
      expect(dead?.type).toBe('quorum');
      expect(argumentsOf(dead)).toEqual(DEAD_LIMITS);
      RETRY_TTLS.forEach((ttl, index) => {
        const retry = queues.find((queue) => queue.name === `${name}.retry.${index + 1}`);
        expect(retry?.type).toBe('quorum');
        expect(argumentsOf(retry)).toEqual({ ...RETRY_LIMITS, 'x-message-ttl': ttl, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': name });
      });
    },
  );

  it('binds every queue as the contract says, and nothing else', async () => {
    const bindings = await list<BindingRow>(vhost.vhost, 'list_bindings', 'source_name', 'destination_name', 'destination_kind', 'routing_key');
    // The default exchange's implicit binding of every queue to its own name is not ours.
    const ours = bindings
      .filter((binding) => binding.source_name !== '')
      .map((binding) => `${binding.source_name} -[${binding.routing_key}]-> ${binding.destination_kind}:${binding.destination_name}`);
    const expected = Object.entries(WORK).flatMap(([name, spec]) => [
      `${spec.exchange} -[${spec.key}]-> queue:${name}`,
      `dead-letter -[${name}]-> queue:${name}.dead`,
      ...RETRY_TTLS.map((_, index) => `dead-letter -[${name}.retry.${index + 1}]-> queue:${name}.retry.${index + 1}`),
    ]);
    expect(ours.sort()).toEqual(expected.sort());
  });

  it('given several addresses (a cluster), connects through one that answers, the dedicated publish connection too', async () => {
    // Port 1 refuses at once: a stopped node. rascal tries the addresses in turn.
    const refusing = new URL(vhost.url);
    refusing.port = '1';
    const config = buildBrokerConfig({ url: [refusing.toString(), vhost.url], consumes: [], retryDelayMs: 500 });
    const connections = (Object.values(config.vhosts ?? {})[0] as { connections?: { url: string }[] }).connections;
    expect(connections?.map((connection) => connection.url)).toEqual([refusing.toString(), vhost.url]);
    for (let attempt = 0; attempt < 3; attempt++) {
      const messaging = await connectMessaging(buildBrokerConfig({ url: [refusing.toString(), vhost.url], consumes: [] }), {
        logger,
        dedicatedPublishChannel: true,
      });
      try {
        expect(messaging.isConnected()).toBe(true);
        await expect(messaging.publish('audit', 'audit.topology-test', { attempt })).resolves.toEqual(expect.any(String));
      } finally {
        await messaging.shutdown();
      }
    }
  });

  it('keeps its reconnect back-off with several addresses (rascal reads it from the vhost defaults, not from each connection)', () => {
    const config = buildBrokerConfig({ url: ['amqp://a/v', 'amqp://b/v'], consumes: [], retryDelayMs: 250 });
    const vhostConfig = Object.values(config.vhosts ?? {})[0] as { defaults?: { connection?: { retry?: unknown } } };
    expect(vhostConfig.defaults?.connection?.retry).toEqual({ min: 250, max: 15_000, factor: 2, strategy: 'exponential' });
    expect(() => buildBrokerConfig({ url: [], consumes: [] })).toThrow(/no RabbitMQ URL/);
  });

  it('declares it again without complaint (every service declares all of it)', async () => {
    const again = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    await again.shutdown();
  });

  it("bounds the external intake queue's .dead and retry queues, never the external queue itself (other systems declare it)", () => {
    const config = buildBrokerConfig({ url: vhost.url, consumes: [], externalQueue: 'other_systems_alerts' });
    const queues = Object.values(config.vhosts ?? {})[0]?.queues as Record<string, { options?: { arguments?: Record<string, unknown> } }>;
    expect(queues['other_systems_alerts.dead']?.options?.arguments).toEqual(DEAD_LIMITS);
    expect(queues['other_systems_alerts.retry.1']?.options?.arguments).toMatchObject({ ...RETRY_LIMITS, 'x-message-ttl': 1_000 });
    for (const name of ['x-max-length', 'x-max-length-bytes', 'x-message-ttl', 'x-overflow'])
      expect(queues['other_systems_alerts']?.options?.arguments ?? {}).not.toHaveProperty(name);
  });

  it('is refused (406) where a queue exists with older arguments, until that queue is re-created: the upgrade path of docs/architecture.md', async () => {
    const connection = await amqp.connect(vhost.url);
    try {
      const channel = await connection.createChannel();
      await channel.deleteQueue('admin.audit-events.dead');
      // As an earlier build declared it: durable, classic, no limits.
      await channel.assertQueue('admin.audit-events.dead', { durable: true });
      await channel.close();
      await expect(connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger })).rejects.toThrow(/PRECONDITION_FAILED/);
      const upgrade = await connection.createChannel();
      await upgrade.deleteQueue('admin.audit-events.dead');
      await upgrade.close();
    } finally {
      await connection.close();
    }
    const upgraded = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    await upgraded.shutdown();
    const rows = await list<QueueRow>(vhost.vhost, 'list_queues', 'name', 'type', 'durable', 'arguments');
    expect(argumentsOf(rows.find((queue) => queue.name === 'admin.audit-events.dead'))).toEqual(DEAD_LIMITS);
  });
});
