import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '@sentryhub/contracts';
import { createLogger, createMetricsRegistry } from '@sentryhub/service-runtime';
import { createTestVhost, waitFor, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectMessaging, type Messaging } from './broker';
import { DependencyUnavailableError, PermanentError, PublishError } from './errors';
import { subscribe, subscribeBatch, type BatchSubscribeOptions } from './subscriber';
import { buildBrokerConfig } from './topology';

const run = promisify(execFile);
const logger = createLogger('messaging-test', 'silent');
const QUEUE = QUEUES.alertProcessorAlertsReceived;
const DEAD = `${QUEUE}.dead`;
const RETRY_DELAYS = [200, 400];
const registry = createMetricsRegistry('messaging-test');
const Body = z.object({ n: z.number(), behaviour: z.enum(['ok', 'fail-once', 'fail-always', 'permanent', 'db-down']) });
/** Longer than every retry together: only an outage that uses up no retry survives it. */
const DB_DOWN_ATTEMPTS = 5;

type BatchOptions = Omit<BatchSubscribeOptions<z.infer<typeof Body>>, 'queue' | 'logger' | 'parse'> &
  Partial<Pick<BatchSubscribeOptions<z.infer<typeof Body>>, 'parse'>>;

/**
 * What every batch scenario below starts from: a vhost of its own, a connection whose retry
 * delays the subscriber follows without being told, and a batch subscriber on the audit queue.
 */
async function startBatchSubscriber(name: string, options: BatchOptions, registry = createMetricsRegistry(`${name}-test`)) {
  const vhost = await createTestVhost(name);
  const messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.adminAuditEvents], retryDelaysMs: RETRY_DELAYS }), {
    logger,
    registry,
    retryDelaysMs: RETRY_DELAYS,
  });
  await subscribeBatch(messaging, { queue: QUEUES.adminAuditEvents, parse: (json) => Body.safeParse(json), logger, ...options });
  return { vhost, messaging };
}

describe('subscriber recovery policy against a real RabbitMQ', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const handled: number[] = [];
  const attempts = new Map<number, number>();

  beforeAll(async () => {
    vhost = await createTestVhost('messaging');
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUE], retryDelaysMs: RETRY_DELAYS }), { logger, registry });
    await subscribe(messaging, {
      queue: QUEUE,
      parse: (json) => Body.safeParse(json),
      logger,
      retryDelaysMs: RETRY_DELAYS,
      dependencyUnavailable: (error) => error.message.startsWith('db down'),
      handler: async (body) => {
        const attempt = (attempts.get(body.n) ?? 0) + 1;
        attempts.set(body.n, attempt);
        if (body.behaviour === 'db-down' && attempt <= DB_DOWN_ATTEMPTS) throw new Error('wrapped', { cause: new Error(`db down (attempt ${attempt})`) });
        if (body.behaviour === 'permanent') throw new PermanentError('cannot ever work', 'behaviour');
        if (body.behaviour === 'fail-always' || (body.behaviour === 'fail-once' && attempt === 1)) throw new Error(`transient failure ${attempt}`);
        handled.push(body.n);
      },
    });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  const nextDeadLetter = () => waitFor(() => channel.get(DEAD, { noAck: true }).then((m) => m || null), 15_000, 'a dead letter');
  const publish = (body: unknown, messageId: string) => messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), body, { messageId });

  it('handles a valid message and acks it', async () => {
    await publish({ n: 1, behaviour: 'ok' }, 'ok-1');
    await waitFor(() => (handled.includes(1) ? true : null));
  });

  it('dead-letters invalid JSON at once with x-error and the original routing', async () => {
    await publish(Buffer.from('{oops'), 'bad-json');
    const dead = await nextDeadLetter();
    expect(dead.properties.messageId).toBe('bad-json');
    expect(String(dead.properties.headers?.['x-error'])).toMatch(/^invalid JSON/);
    expect(dead.properties.headers?.['x-original-exchange']).toBe('alerts');
    expect(dead.properties.headers?.['x-original-routing-key']).toBe('alert.received.api');
    expect(dead.content.toString()).toBe('{oops');
  });

  it('dead-letters a schema failure with the path of the problem', async () => {
    await publish({ n: 'two', behaviour: 'ok' }, 'bad-shape');
    const dead = await nextDeadLetter();
    expect(dead.properties.messageId).toBe('bad-shape');
    expect(dead.properties.headers?.['x-error-path']).toBe('n');
    expect(String(dead.properties.headers?.['x-error'])).toMatch(/invalid message: .* at n/);
  });

  it('retries a transient failure later through the retry queue', async () => {
    await publish({ n: 3, behaviour: 'fail-once' }, 'retry-once');
    await waitFor(() => (handled.includes(3) ? true : null), 10_000, 'the retried message');
    expect(attempts.get(3)).toBe(2);
  });

  it('dead-letters after the last retry, with the error attached', async () => {
    await publish({ n: 4, behaviour: 'fail-always' }, 'always-fails');
    const dead = await nextDeadLetter();
    expect(dead.properties.messageId).toBe('always-fails');
    expect(attempts.get(4)).toBe(RETRY_DELAYS.length + 1);
    expect(String(dead.properties.headers?.['x-error'])).toMatch(/retries exhausted after 2 attempts: transient failure 3/);
  });

  it('dead-letters a permanent failure without retrying', async () => {
    await publish({ n: 5, behaviour: 'permanent' }, 'permanent');
    const dead = await nextDeadLetter();
    expect(dead.properties.messageId).toBe('permanent');
    expect(dead.properties.headers?.['x-error']).toBe('cannot ever work');
    expect(attempts.get(5)).toBe(1);
  });

  it('an error the dependencyUnavailable option recognises (in its causes too) never uses up a retry', async () => {
    await publish({ n: 6, behaviour: 'db-down' }, 'db-down');
    await waitFor(() => (handled.includes(6) ? true : null), 15_000, 'the message to outlast the outage');
    expect(attempts.get(6)).toBe(DB_DOWN_ATTEMPTS + 1);
    expect(DB_DOWN_ATTEMPTS + 1).toBeGreaterThan(RETRY_DELAYS.length + 1);
  });

  /** What an outside system can do: publish straight to the queue, with any header it likes. */
  const forged = {
    'x-original-exchange': EXCHANGES.audit,
    'x-original-routing-key': 'audit.api_key.create',
    'x-original-queue': 'admin.audit-events',
    'x-error': 'nothing wrong here',
    'x-error-path': 'nowhere',
    'x-death': [{ queue: `${QUEUE}.retry.2`, reason: 'expired', count: 1, exchange: EXCHANGES.deadLetter, 'routing-keys': [`${QUEUE}.retry.2`] }],
    'x-first-death-exchange': EXCHANGES.alerts,
    'x-kept': 'any other header travels along',
  };

  it("writes a dead letter's provenance from the delivery, whatever headers the publisher forged", async () => {
    channel.sendToQueue(QUEUE, Buffer.from('{oops'), { messageId: 'forged-bad-json', headers: { ...forged, 'x-retry-count': 3 } });
    const dead = await nextDeadLetter();
    expect(dead.properties.messageId).toBe('forged-bad-json');
    const headers = dead.properties.headers ?? {};
    // Delivered through the default exchange with the queue's name as routing key: that is what is recorded.
    expect(headers['x-original-exchange']).toBe('');
    expect(headers['x-original-routing-key']).toBe(QUEUE);
    expect(headers['x-original-queue']).toBe(QUEUE);
    expect(String(headers['x-error'])).toMatch(/^invalid JSON/);
    expect(headers['x-error-path']).toBe('');
    expect(headers['x-retry-count']).toBe(0);
    for (const name of ['x-death', 'x-first-death-exchange']) expect(headers, name).not.toHaveProperty(name);
    expect(headers['x-kept']).toBe('any other header travels along');
  });

  it('ignores a forged retry counter: every retry is used, none is skipped or added', async () => {
    channel.sendToQueue(QUEUE, Buffer.from(JSON.stringify({ n: 7, behaviour: 'fail-always' })), {
      messageId: 'forged-minus',
      headers: { ...forged, 'x-retry-count': -1_000 },
    });
    const dead = await nextDeadLetter();
    expect(dead.properties.messageId).toBe('forged-minus');
    expect(attempts.get(7)).toBe(RETRY_DELAYS.length + 1);
    expect(dead.properties.headers?.['x-retry-count']).toBe(RETRY_DELAYS.length);
    expect(String(dead.properties.headers?.['x-error'])).toBe(
      `retries exhausted after ${RETRY_DELAYS.length} attempts: transient failure ${RETRY_DELAYS.length + 1}`,
    );
    // The retries SentryHub republished came back with its own record: the first delivery's route.
    expect(dead.properties.headers?.['x-original-exchange']).toBe('');
    expect(dead.properties.headers?.['x-original-routing-key']).toBe(QUEUE);

    // "Already on its last try": ignored as well, so a transient failure is still retried.
    channel.sendToQueue(QUEUE, Buffer.from(JSON.stringify({ n: 8, behaviour: 'fail-once' })), {
      messageId: 'forged-last',
      headers: { 'x-retry-count': RETRY_DELAYS.length },
    });
    await waitFor(() => (handled.includes(8) ? true : null), 10_000, 'the retried message');
    expect(attempts.get(8)).toBe(2);
  });

  it("keeps the recorded route through its own retries, and marks its publishes with the connection's user", async () => {
    expect(messaging.brokerUser).toBe('guest');
    await publish({ n: 9, behaviour: 'fail-always' }, 'own-retries');
    const dead = await nextDeadLetter();
    expect(dead.properties.userId).toBe('guest');
    expect(dead.properties.headers).toMatchObject({
      'x-original-exchange': 'alerts',
      'x-original-routing-key': 'alert.received.api',
      'x-retry-count': RETRY_DELAYS.length,
    });
    expect(dead.properties.headers?.['x-death']).toHaveLength(RETRY_DELAYS.length);
  });

  it('RabbitMQ refuses an outside user who claims to be the SentryHub user', async () => {
    const outsider = `outsider-${Date.now()}`;
    await run('rabbitmqctl', ['-q', 'add_user', outsider, 'outsider-password'], { timeout: 60_000 });
    try {
      await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost.vhost, outsider, '.*', '.*', '.*'], { timeout: 60_000 });
      const url = new URL(vhost.url);
      url.username = outsider;
      url.password = 'outsider-password';
      const theirs = await amqp.connect(url.toString());
      try {
        const confirm = await theirs.createConfirmChannel();
        const closed = new Promise<Error>((resolve) => confirm.once('error', resolve));
        confirm.sendToQueue(QUEUE, Buffer.from(JSON.stringify({ n: 10, behaviour: 'ok' })), { userId: 'guest', headers: { 'x-retry-count': 1 } });
        expect((await closed).message).toMatch(/PRECONDITION_FAILED.*user_id property set to 'guest' but authenticated user was '/);
      } finally {
        await theirs.close().catch(() => undefined);
      }
      expect(handled).not.toContain(10);
    } finally {
      await run('rabbitmqctl', ['-q', 'delete_user', outsider], { timeout: 60_000 });
    }
  });

  it('refuses an unroutable publish instead of dropping it', async () => {
    await expect(messaging.publish(EXCHANGES.alerts, 'nobody.listens.here', { x: 1 })).rejects.toMatchObject({ reason: 'returned' });
    await expect(messaging.publish(EXCHANGES.alerts, 'nobody.listens.here', { x: 1 })).rejects.toBeInstanceOf(PublishError);
  });

  it('counts what it published and consumed, by outcome', async () => {
    const value = async (name: string, labels: Record<string, string>) => {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
      const found = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
      return found?.value ?? 0;
    };
    expect(await value('sentryhub_messages_consumed_total', { queue: QUEUE, outcome: 'acked' })).toBeGreaterThanOrEqual(2);
    expect(await value('sentryhub_messages_consumed_total', { queue: QUEUE, outcome: 'dead_lettered' })).toBeGreaterThanOrEqual(4);
    expect(await value('sentryhub_messages_consumed_total', { queue: QUEUE, outcome: 'retried' })).toBeGreaterThanOrEqual(3);
    expect(await value('sentryhub_messages_published_total', { exchange: 'alerts', outcome: 'returned' })).toBe(2);
    expect(await value('sentryhub_broker_connected', {})).toBe(1);
    const text = await registry.metrics();
    expect(text).toMatch(/sentryhub_handler_seconds_count\{[^}]*queue="alert-processor.alerts-received"[^}]*\} \d+/);
  });
});

describe('batch subscriber: one failing message among good ones', () => {
  const BATCH_QUEUE = QUEUES.adminAuditEvents;
  let vhost: TestVhost;
  let messaging: Messaging;
  let channel: amqp.Channel;
  let connection: amqp.ChannelModel;
  /** How many times each good message was written by a successful batch. */
  const written = new Map<number, number>();
  const poisonTries: boolean[] = [];
  const batchSizes: number[] = [];

  beforeAll(async () => {
    // Lets the whole burst arrive before the first batch closes.
    ({ vhost, messaging } = await startBatchSubscriber('messaging-batch', {
      maxWeight: 100,
      maxWaitMs: 300,
      // All or nothing, like a database transaction: one poison fails the whole batch.
      handler: async (batch) => {
        batchSizes.push(batch.length);
        const poison = batch.find((item) => item.data.behaviour === 'fail-always');
        if (poison) {
          // Bisection shows it to the handler several times per try; alone once per try.
          if (batch.length === 1) poisonTries.push(poison.context.lastAttempt);
          throw new Error(`cannot store message ${poison.data.n}`);
        }
        for (const item of batch) written.set(item.data.n, (written.get(item.data.n) ?? 0) + 1);
      },
    }));
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  it('writes every good message once, and dead-letters only the poison, after its retries, with the error', async () => {
    const good = Array.from({ length: 30 }, (_, index) => index);
    await Promise.all([
      ...good.map((n) => messaging.publish(EXCHANGES.audit, 'audit.test.good', { n, behaviour: 'ok' }, { messageId: `good-${n}` })),
      messaging.publish(EXCHANGES.audit, 'audit.test.poison', { n: 99, behaviour: 'fail-always' }, { messageId: 'poison' }),
    ]);
    const dead = await waitFor(() => channel.get(`${BATCH_QUEUE}.dead`, { noAck: true }).then((m) => m || null), 15_000, 'the poison in the dead letters');
    expect(dead.properties.messageId).toBe('poison');
    expect(String(dead.properties.headers?.['x-error'])).toBe(`retries exhausted after ${RETRY_DELAYS.length} attempts: cannot store message 99`);
    // Tried once, then once per retry; only the last try knew it was the last.
    expect(poisonTries).toEqual([...RETRY_DELAYS.map(() => false), true]);
    expect(good.filter((n) => written.get(n) !== 1)).toEqual([]);
    expect(batchSizes[0], 'the burst arrived as one batch').toBeGreaterThan(1);
    expect(await channel.checkQueue(`${BATCH_QUEUE}.dead`)).toMatchObject({ messageCount: 0 });
  });
});

describe('batch subscriber at a steady pace', () => {
  const MESSAGES = 60;
  let vhost: TestVhost;
  let messaging: Messaging;
  const batches: number[][] = [];

  beforeAll(async () => {
    ({ vhost, messaging } = await startBatchSubscriber('messaging-pace', {
      maxWeight: 1_000,
      maxWaitMs: 100,
      // A write takes a while, as a database transaction does.
      handler: async (batch) => {
        batches.push(batch.map((item) => item.data.n));
        await new Promise((resolve) => setTimeout(resolve, 10));
      },
    }));
  });

  afterAll(async () => {
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  it('waits out maxWaitMs after a write instead of cutting the next batch as soon as the write is done', async () => {
    // One message every 5 ms for about 300 ms: cut after each 10 ms write, that would be some
    // 30 batches of one or two; gathered for 100 ms each, a handful.
    for (let n = 0; n < MESSAGES; n++) {
      await messaging.publish(EXCHANGES.audit, 'audit.test.pace', { n, behaviour: 'ok' }, { messageId: `pace-${n}` });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor(() => (batches.flat().length === MESSAGES ? true : null), 15_000, 'every message written');
    expect(batches.flat()).toEqual(Array.from({ length: MESSAGES }, (_, n) => n));
    expect(batches.length, `batch sizes ${batches.map((batch) => batch.length).join(', ')}`).toBeLessThanOrEqual(10);
  });
});

describe('batch subscriber while a dependency is down', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  const registry = createMetricsRegistry('hold-test');
  const written: number[] = [];
  let outages = 3;
  let calls = 0;
  let writes = 0;

  beforeAll(async () => {
    ({ vhost, messaging } = await startBatchSubscriber(
      'messaging-hold',
      {
        maxWeight: 100,
        maxWaitMs: 200,
        holdRetryMs: 50,
        handler: async (batch) => {
          calls += 1;
          if (outages > 0) {
            outages -= 1;
            throw new DependencyUnavailableError('PostgreSQL unavailable: connection refused');
          }
          written.push(...batch.map((item) => item.data.n));
          writes += 1;
        },
      },
      registry,
    ));
  });

  afterAll(async () => {
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  it('holds the batch and writes it once the dependency is back, without republishing anything', async () => {
    await Promise.all([1, 2, 3].map((n) => messaging.publish(EXCHANGES.audit, 'audit.test.held', { n, behaviour: 'ok' }, { messageId: `held-${n}` })));
    await waitFor(() => (written.length === 3 ? true : null), 15_000, 'the held batch to be written');
    expect(written.sort()).toEqual([1, 2, 3]);
    // Three refusals of the held batch, then one successful write per batch.
    expect(calls).toBe(3 + writes);
    const consumed = (await registry.getMetricsAsJSON()).find((metric) => metric.name === 'sentryhub_messages_consumed_total');
    const outcomes = Object.fromEntries((consumed?.values ?? []).map((value) => [value.labels['outcome'], value.value]));
    expect(outcomes).toEqual({ acked: 3 });
  });
});

describe('batch subscriber with a long prefetch', () => {
  const BATCH_QUEUE = QUEUES.adminAuditEvents;
  const MAX_WEIGHT = 5;
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const written: number[] = [];
  let parsed = 0;
  let release: () => void = () => undefined;
  const firstBatchHeld = new Promise<void>((resolve) => (release = resolve));
  let batches = 0;

  beforeAll(async () => {
    // The queue's prefetch (50) takes every message below while the first batch is held.
    ({ vhost, messaging } = await startBatchSubscriber('messaging-prefetch', {
      parse: (json) => {
        parsed += 1;
        return Body.safeParse(json);
      },
      maxWeight: MAX_WEIGHT,
      maxWaitMs: 20,
      handler: async (batch) => {
        batches += 1;
        if (batches === 1) await firstBatchHeld;
        written.push(...batch.map((item) => item.data.n));
      },
    }));
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    release();
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  it('parses no more than its next two batches ahead, and still writes everything in order and dead-letters the invalid', async () => {
    const messages = Array.from({ length: 40 }, (_, n) => n);
    for (const n of messages) {
      await messaging.publish(EXCHANGES.audit, 'audit.test.prefetch', n === 30 ? { n: 'thirty', behaviour: 'ok' } : { n, behaviour: 'ok' }, {
        messageId: n === 30 ? 'bad-deep' : `m-${n}`,
      });
    }
    // Every message delivered (none ready in the queue) while the first batch is still held.
    await waitFor(
      () => channel.checkQueue(BATCH_QUEUE).then((queue) => (queue.messageCount === 0 && batches === 1 ? true : null)),
      15_000,
      'every message delivered',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The batch being written, then two batches parsed ahead (the last message may cross the mark); the rest waits as bytes.
    expect(parsed).toBeLessThanOrEqual(MAX_WEIGHT + 2 * MAX_WEIGHT + 1);
    release();
    await waitFor(() => (written.length === 39 ? true : null), 15_000, 'every valid message written');
    expect(written).toEqual(messages.filter((n) => n !== 30));
    const dead = await waitFor(() => channel.get(`${BATCH_QUEUE}.dead`, { noAck: true }).then((m) => m || null), 15_000, 'the invalid message dead-lettered');
    expect(dead.properties.messageId).toBe('bad-deep');
    expect(String(dead.properties.headers?.['x-error'])).toMatch(/^invalid message: .* at n$/);
    expect(parsed, 'each message parsed once').toBe(40);
  });
});

describe('subscriber with maxParsedBytes', () => {
  const GATED_QUEUE = QUEUES.adminAuditEvents;
  const body = (n: number | string) => ({ n, behaviour: 'ok' });
  const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
  // Room for 1, the invalid 'x' and 3 together; 4 fits once 'x' is dead-lettered, 5 does not.
  const MAX_PARSED_BYTES = size(body(1)) + size(body('x')) + size(body(3));
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const registry = createMetricsRegistry('parsed-bytes-test');
  const parsedIds: (number | string)[] = [];
  const handled: number[] = [];
  let openHandlers: () => void = () => undefined;
  const handlersHeld = new Promise<void>((resolve) => (openHandlers = resolve));
  const gauge = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values.find((value) => value.labels['queue'] === GATED_QUEUE)?.value;

  beforeAll(async () => {
    vhost = await createTestVhost('messaging-parsed-bytes');
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [GATED_QUEUE], retryDelaysMs: RETRY_DELAYS }), {
      logger,
      registry,
      retryDelaysMs: RETRY_DELAYS,
    });
    await subscribe(messaging, {
      queue: GATED_QUEUE,
      parse: (json) => {
        const result = Body.safeParse(json);
        parsedIds.push(result.success ? result.data.n : 'invalid');
        return result;
      },
      logger,
      maxParsedBytes: MAX_PARSED_BYTES,
      handler: async (data) => {
        await handlersHeld;
        handled.push(data.n);
      },
    });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    openHandlers();
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  it('parses a message only once its bytes fit, and gives them back when it is settled, a dead-lettered one too', async () => {
    const bodies = [body(1), body('x'), body(3), body(4), body(5), body(6), body(7)];
    for (const [index, each] of bodies.entries()) await messaging.publish(EXCHANGES.audit, 'audit.test.parsed-bytes', each, { messageId: `gated-${index}` });
    await waitFor(async () => ((await gauge('sentryhub_consumer_unparsed_messages')) === 3 ? true : null), 15_000, 'three messages waiting unparsed');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 1 and 3 wait in their handlers; 'x' was parsed, dead-lettered and gave its bytes to 4.
    expect(parsedIds).toEqual([1, 'invalid', 3, 4]);
    expect(await gauge('sentryhub_consumer_parsed_bytes')).toBe(size(body(1)) + size(body(3)) + size(body(4)));
    openHandlers();
    await waitFor(() => (handled.length === 6 ? true : null), 15_000, 'every valid message handled');
    expect(handled).toEqual([1, 3, 4, 5, 6, 7]);
    expect(await gauge('sentryhub_consumer_parsed_bytes')).toBe(0);
    expect(await gauge('sentryhub_consumer_unparsed_messages')).toBe(0);
    const dead = await waitFor(() => channel.get(`${GATED_QUEUE}.dead`, { noAck: true }).then((m) => m || null), 15_000, 'the invalid message dead-lettered');
    expect(dead.properties.messageId).toBe('gated-1');
  });
});
