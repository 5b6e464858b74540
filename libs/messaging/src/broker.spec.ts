import { execFile } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '@sentryhub/contracts';
import { createLogger, Readiness } from '@sentryhub/service-runtime';
import { createTestVhost, waitFor, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import rascal from 'rascal';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectMessaging, DEDICATED_PUBLISH_COMPONENT, sessionErrorReason, type Messaging } from './broker';
import { PublishError } from './errors';
import { buildBrokerConfig } from './topology';

const run = promisify(execFile);
const logger = createLogger('broker-test', 'silent');
const READER = 'broker-spec-reader';

/** The reason a publish was refused with, or 'confirmed'. */
const outcome = (publishing: Promise<unknown>) =>
  publishing.then(
    () => 'confirmed',
    (error: unknown) => (error instanceof PublishError ? error.reason : `not a PublishError: ${String(error)}`),
  );

/**
 * A TCP proxy in front of RabbitMQ that can hold what a client sends (what the broker sends
 * still passes): publishes written while held are provably in flight, neither confirmed nor
 * nacked, until the connection goes away (its held bytes with it).
 */
async function startHoldingProxy(target: URL) {
  const pipes = new Set<{ client: Socket; upstream: Socket; held: Buffer[] | null }>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5672) });
    const pipe = { client, upstream, held: null as Buffer[] | null };
    pipes.add(pipe);
    client.on('data', (chunk: Buffer) => (pipe.held ? pipe.held.push(chunk) : upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    // The broker's last bytes (its connection.close) reach the client before the client side ends.
    upstream.on('close', () => client.end());
    client.on('close', () => {
      pipes.delete(pipe);
      upstream.destroy();
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    /** From now on, the bytes the current connections' clients send are held (connections opened later pass). */
    holdClientBytes: () => {
      for (const pipe of pipes) pipe.held ??= [];
    },
    /** What the clients sent while held, all connections' together. */
    heldBytes: () => Buffer.concat([...pipes].flatMap((pipe) => pipe.held ?? [])),
    close: async () => {
      for (const pipe of pipes) pipe.client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('publishing on a dedicated confirm channel (dedicatedPublishChannel) against a real RabbitMQ', () => {
  let vhost: TestVhost;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const opened: Messaging[] = [];

  async function connect(readiness: Readiness, retryDelayMs = 100): Promise<Messaging> {
    const messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [], retryDelayMs }), {
      logger,
      status: readiness,
      publishTimeoutMs: 5_000,
      dedicatedPublishChannel: true,
      retryDelayMs,
    });
    opened.push(messaging);
    return messaging;
  }

  /** Closes every connection of the vhost from the broker side but the test's own reader (or only those named `only`). */
  async function closeServiceConnections(only?: string): Promise<number> {
    const { stdout } = await run('rabbitmqctl', ['-q', '-s', 'list_connections', 'pid', 'vhost', 'client_properties'], { timeout: 60_000 });
    const pids = stdout
      .split('\n')
      .map((line) => line.split('\t'))
      .filter(([, name, properties]) => name === vhost.vhost && !properties?.includes(READER) && (only === undefined || properties?.includes(only)))
      .map(([pid]) => pid ?? '');
    for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'closed by the broker test'], { timeout: 60_000 });
    return pids.length;
  }

  beforeAll(async () => {
    vhost = await createTestVhost('broker');
    connection = await amqp.connect(vhost.url, { clientProperties: { connection_name: READER } });
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    for (const messaging of opened) await messaging.shutdown().catch(() => undefined);
    await connection?.close();
    await vhost?.destroy();
  });

  it('resolves with the broker ack, not through rascal, and the message carries the publish properties', async () => {
    const readiness = new Readiness([]);
    const messaging = await connect(readiness);
    expect(readiness.status()).toEqual({ ready: true, notReady: {} });
    const rascalPublish = vi.spyOn(messaging.broker, 'publish');

    const id = await messaging.publish(
      EXCHANGES.alerts,
      ROUTING_KEYS.alertReceived('webhook'),
      { hello: 'world' },
      { messageId: 'dedicated-1', correlationId: 'corr-1', headers: { 'x-test': 'yes' } },
    );
    expect(id).toBe('dedicated-1');
    expect(rascalPublish).not.toHaveBeenCalled();

    const message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
    expect(message).not.toBe(false);
    if (!message) return;
    expect(JSON.parse(message.content.toString())).toEqual({ hello: 'world' });
    expect(message.fields.routingKey).toBe('alert.received.webhook');
    expect(message.properties).toMatchObject({
      messageId: 'dedicated-1',
      correlationId: 'corr-1',
      contentType: 'application/json',
      deliveryMode: 2,
      headers: { 'x-test': 'yes' },
    });
    expect(typeof message.properties.timestamp).toBe('number');
  });

  it('refuses an unroutable publish as returned (mandatory), and the channel goes on', async () => {
    const messaging = await connect(new Readiness([]));
    expect(await outcome(messaging.publish(EXCHANGES.alerts, 'nothing.is.bound.to.this', { lost: true }))).toBe('returned');
    // The same message id again, routable this time: the earlier return does not stick to it.
    expect(await outcome(messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { kept: true }, { messageId: 'returned-then-routed' }))).toBe(
      'confirmed',
    );
    expect(await outcome(messaging.publish(EXCHANGES.alerts, 'nothing.is.bound.to.this', { lost: true }, { messageId: 'returned-then-routed' }))).toBe(
      'returned',
    );
    expect(await outcome(messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { kept: true }, { messageId: 'returned-then-routed' }))).toBe(
      'confirmed',
    );
    const kept = [
      await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true }),
      await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true }),
    ];
    expect(kept.map((message) => (message ? message.properties.messageId : null))).toEqual(['returned-then-routed', 'returned-then-routed']);
  });

  it('refuses a publish the broker nacks', async () => {
    // A queue that takes nothing: RabbitMQ nacks every publish routed to it.
    const full = 'broker-spec.full';
    await channel.assertQueue(full, { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    const messaging = await connect(new Readiness([]));
    expect(await outcome(messaging.publish('', full, { refused: true }))).toBe('error');
    expect(await outcome(messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { after: 'nack' }))).toBe('confirmed');
    await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
  });

  it('refuses publishes as blocked while the publish connection is blocked, and publishes again once unblocked', async () => {
    // A real memory alarm would block every test on this broker: the connection's own events stand in for it.
    const connections: EventEmitter[] = [];
    const create = rascal.BrokerAsPromised.create.bind(rascal.BrokerAsPromised);
    const spy = vi.spyOn(rascal.BrokerAsPromised, 'create').mockImplementation(async (...args: Parameters<typeof create>) => {
      const broker = await create(...args);
      const connect = broker.connect.bind(broker);
      broker.connect = async (name: string) => {
        const connection = await connect(name);
        connections.push(connection as unknown as EventEmitter);
        return connection;
      };
      return broker;
    });
    const readiness = new Readiness([]);
    const messaging = await connect(readiness).finally(() => spy.mockRestore());
    expect(connections).toHaveLength(1);
    connections[0]?.emit('blocked', 'low on memory');
    expect(messaging.isConnected()).toBe(false);
    expect(readiness.status().notReady[DEDICATED_PUBLISH_COMPONENT]).toMatch(/blocked.*low on memory/);
    expect(await outcome(messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { while: 'blocked' }))).toBe('blocked');
    connections[0]?.emit('unblocked');
    expect(readiness.status()).toEqual({ ready: true, notReady: {} });
    expect(
      await outcome(messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { after: 'unblocked' }, { messageId: 'after-unblocked' })),
    ).toBe('confirmed');
    const message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
    expect(message ? message.properties.messageId : null).toBe('after-unblocked');
    expect(await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true })).toBe(false);
  });

  it('after the broker closed its connection: refuses publishes as disconnected, is not ready, and reconnects by itself', async () => {
    const readiness = new Readiness([]);
    // A long first back-off: the connection stays down long enough to be looked at.
    const slow = await connect(readiness, 60_000);
    expect(await closeServiceConnections()).toBeGreaterThan(0);
    await waitFor(() => (slow.isConnected() ? null : true), 30_000, 'the client to notice its connection is gone');
    await waitFor(() => (readiness.status().notReady[DEDICATED_PUBLISH_COMPONENT] ? true : null), 30_000, 'readiness to say the publish connection is down');
    expect(await outcome(slow.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { while: 'down' }))).toBe('disconnected');
    await slow.shutdown();

    const fastReadiness = new Readiness([]);
    const fast = await connect(fastReadiness, 100);
    await closeServiceConnections();
    // It comes back without help, and publishes again.
    await waitFor(
      async () =>
        (await outcome(fast.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { after: 'reconnect' }, { messageId: 'after-reconnect' }))) ===
        'confirmed'
          ? true
          : null,
      60_000,
      'a confirmed publish after the reconnect',
    );
    await waitFor(() => (fastReadiness.status().ready ? true : null), 30_000, 'readiness to be back');
    const messages: string[] = [];
    for (
      let message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
      message;
      message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true })
    ) {
      messages.push(String(message.properties.messageId));
    }
    expect(messages).toEqual(['after-reconnect']);
  });

  it('through rascal (no dedicated channel): publishes cut off by a closed connection are disconnected, never refused', async () => {
    const name = 'broker-spec-via-rascal';
    const proxy = await startHoldingProxy(new URL(vhost.url));
    try {
      const url = new URL(vhost.url);
      url.port = String(proxy.port);
      // A publish timeout far beyond the close: a publish cut off by it cannot end as a timeout first.
      const viaRascal = await connectMessaging(
        buildBrokerConfig({ url: url.toString(), consumes: [], retryDelayMs: 100, socketOptions: { clientProperties: { connection_name: name } } }),
        { logger, publishTimeoutMs: 90_000 },
      );
      opened.push(viaRascal);
      // Confirmed publishes side by side leave rascal's confirm-channel pool with open channels:
      // a publish only goes on the wire on an open channel (opening one needs the broker's answer).
      const warmUp = await Promise.all(
        Array.from({ length: 20 }, (_, index) => outcome(viaRascal.publish(EXCHANGES.audit, 'audit.broker-test', { warmUp: index }))),
      );
      expect(new Set(warmUp)).toEqual(new Set(['confirmed']));

      // The proxy holds what the client sends from now on: a publish that leaves the client never
      // reaches RabbitMQ, so it can be neither confirmed nor nacked before the broker closes the connection.
      proxy.holdClientBytes();
      const markers = Array.from({ length: 50 }, (_, index) => `cut-off-${String(index).padStart(2, '0')}`);
      const outcomes = markers.map((marker) => outcome(viaRascal.publish(EXCHANGES.audit, 'audit.broker-test', { marker })));
      const settled: string[] = [];
      for (const pending of outcomes) void pending.then((result) => settled.push(result));
      const onTheWire = () => {
        const held = proxy.heldBytes().toString('latin1');
        return markers.filter((marker) => held.includes(marker));
      };
      await waitFor(() => (onTheWire().length > 0 ? true : null), 30_000, 'publishes on the wire, held by the proxy');
      // Let every publish that has an open channel reach the wire (the others wait in rascal for one).
      await new Promise((resolve) => setTimeout(resolve, 200));
      const cutOff = onTheWire();
      expect(settled, 'a publish settled before the connection was closed').toEqual([]);

      expect(await closeServiceConnections(name)).toBe(1);
      const results = await Promise.all(outcomes);
      // Every publish the close cut off says so; none is reported as refused by the broker (those
      // that waited in rascal for a channel go out once it reconnected, and are confirmed).
      expect(
        cutOff.map((marker) => `${marker}: ${results[markers.indexOf(marker)]}`),
        JSON.stringify(results),
      ).toEqual(cutOff.map((marker) => `${marker}: disconnected`));
      expect(
        results.filter((result) => result !== 'confirmed' && result !== 'disconnected'),
        JSON.stringify(results),
      ).toEqual([]);

      // rascal reconnects by itself (the proxy passes the new connection's bytes) and publishes again.
      await waitFor(
        async () => ((await outcome(viaRascal.publish(EXCHANGES.audit, 'audit.broker-test', { after: 'reconnect' }))) === 'confirmed' ? true : null),
        60_000,
        'a confirmed publish after rascal reconnected',
      );
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('reads a rascal publication error: a nack is a refusal, a timeout a timeout, a lost channel or connection a disconnection', () => {
    expect(sessionErrorReason(new Error('message nacked'))).toBe('error');
    expect(sessionErrorReason(new Error('Timedout after 10000ms waiting for broker to confirm publication to: alerts'))).toBe('timeout');
    expect(sessionErrorReason(new Error('channel closed'))).toBe('disconnected');
    expect(
      sessionErrorReason(
        new Error('Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure with reason \'shutdown\'"'),
      ),
    ).toBe('disconnected');
  });
});
