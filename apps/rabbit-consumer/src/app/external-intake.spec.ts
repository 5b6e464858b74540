import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AlertReceived, deadLetterQueueName, DEFAULT_EXTERNAL_QUEUE, EXCHANGES, HEADERS, QUEUES, retryQueueName, ROUTING_KEYS } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging, type Subscription } from '@sentryhub/messaging';
import { fingerprint } from '@sentryhub/alert-identity';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { alertmanagerWebhook, createTestVhost, waitFor, webhookAlert, type TestVhost } from '@sentryhub/testing';
import amqp, { type ConfirmChannel, type GetMessage, type Options } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalIntakeTopology, subscribeExternalIntake } from './external-intake';

/*
 * Against the real local RabbitMQ, in a throwaway vhost: the consumer is wired exactly as
 * main.ts wires it, and a raw amqplib client plays the outside system (and the downstream
 * alert-processor, by reading its queue).
 */

const QUEUE = DEFAULT_EXTERNAL_QUEUE;
const DEAD = deadLetterQueueName(QUEUE);
const RECEIVED = QUEUES.alertProcessorAlertsReceived;
const PREFETCH = 7;
const BODY_LIMIT_BYTES = 1_048_576;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const run = promisify(execFile);

let vhost: TestVhost;
let messaging: Messaging | undefined;
let subscription: Subscription | undefined;
let connection: Awaited<ReturnType<typeof amqp.connect>> | undefined;
let channel: ConfirmChannel;
let channelClosed: Error | null = null;
const registry = new Registry();

beforeAll(async () => {
  vhost = await createTestVhost('rabbit-consumer');
  const logger = createLogger('rabbit-consumer-test', 'silent');
  const topology = externalIntakeTopology({ RABBITMQ_EXTERNAL_QUEUE: QUEUE, RABBITMQ_PREFETCH: PREFETCH });
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, ...topology, retryDelayMs: 200 }), { logger });
  subscription = await subscribeExternalIntake(messaging, {
    queue: QUEUE,
    logger,
    registry,
    // Every node of a cluster (RABBITMQ_URLS), the first refusing (nothing listens on port 1): the queue is still declared, on the next.
    broker: { url: ['amqp://guest:guest@127.0.0.1:1/', vhost.url], socketOptions: topology.socketOptions },
    bodyLimitBytes: BODY_LIMIT_BYTES,
    retryDelayMs: 200,
  });
  connection = await amqp.connect(vhost.url);
  channel = await connection.createConfirmChannel();
  // Every test uses this channel: once the broker closed it, fail at once instead of waiting for confirms that never come.
  channel.on('close', () => {
    channelClosed = new Error('the test channel was closed by the broker (see the first failure)');
  });
});

afterAll(async () => {
  await connection?.close();
  await subscription?.cancel();
  await messaging?.shutdown();
  await vhost?.destroy();
});

/** Drops a message on the external queue as an outside system would, and waits for the broker's confirm. */
async function send(body: unknown, properties: Options.Publish = {}): Promise<Buffer> {
  if (channelClosed) throw channelClosed;
  const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  channel.sendToQueue(QUEUE, content, { contentType: 'application/json', persistent: true, ...properties });
  await channel.waitForConfirms();
  return content;
}

function next(queue: string): Promise<GetMessage> {
  return waitFor(async () => (await channel.get(queue, { noAck: true })) || null, 15_000, `a message on ${queue}`);
}

async function received(): Promise<{ message: GetMessage; body: AlertReceived }> {
  const message = await next(RECEIVED);
  return { message, body: AlertReceived.parse(JSON.parse(message.content.toString('utf8'))) };
}

async function ready(queue: string): Promise<number> {
  return (await channel.checkQueue(queue)).messageCount;
}

async function counter(name: string): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values[0]?.value ?? 0;
}

async function counters() {
  return {
    messages: await counter('sentryhub_rabbit_consumer_messages_accepted_total'),
    alerts: await counter('sentryhub_rabbit_consumer_alerts_accepted_total'),
  };
}

/** A `rabbitmqctl list_*` of the test vhost, as JSON rows. */
async function list<T>(command: 'list_queues' | 'list_consumers', ...columns: string[]): Promise<T[]> {
  const { stdout } = await run('rabbitmqctl', ['-q', command, '-p', vhost.vhost, ...columns, '--formatter', 'json'], { timeout: 60_000 });
  return JSON.parse(stdout) as T[];
}

/** Ready and unacknowledged counts of the external queue, as the broker sees them. */
async function externalQueueState(): Promise<{ ready: number; unacked: number }> {
  const rows = await list<{ name: string; messages_ready: number; messages_unacknowledged: number }>(
    'list_queues',
    'name',
    'messages_ready',
    'messages_unacknowledged',
  );
  const row = rows.find((candidate) => candidate.name === QUEUE);
  if (!row) throw new Error(`queue ${QUEUE} not found in vhost ${vhost.vhost}`);
  return { ready: row.messages_ready, unacked: row.messages_unacknowledged };
}

async function expectExternalQueueSettled(): Promise<void> {
  await waitFor(
    async () => {
      const state = await externalQueueState();
      return state.ready === 0 && state.unacked === 0 ? state : null;
    },
    20_000,
    `${QUEUE} to hold no ready or unacknowledged message`,
  );
}

const webhook = alertmanagerWebhook(
  [
    webhookAlert({ startsAt: '2025-01-01T00:00:00Z' }),
    webhookAlert({
      status: 'resolved',
      labels: { alertname: 'HighCPU', instance: 'host-2', job: 'node' },
      annotations: {},
      startsAt: '2025-01-01T00:00:00Z',
      endsAt: '2025-01-01T00:10:00Z',
      generatorURL: '',
      fingerprint: '0123456789abcdef',
    }),
  ],
  { commonLabels: { alertname: 'HighCPU', job: 'node' }, notification_reason: 'new alerts' },
) as { groupKey: string; alerts: { labels: Record<string, string> }[] };

describe('the external queue', () => {
  it('is declared as existing publishers declare it (durable, classic, no arguments), beside <queue>.dead, and consumed with acks and the prefetch', async () => {
    // rabbitmqctl prints queue arguments as [name, type, value] triples.
    const queues = await list<{ name: string; durable: boolean; type: string; arguments: [string, string, unknown][] }>(
      'list_queues',
      'name',
      'durable',
      'type',
      'arguments',
    );
    const external = queues.find((queue) => queue.name === QUEUE);
    expect(external).toMatchObject({ durable: true, type: 'classic', arguments: [] });
    expect(queues.find((queue) => queue.name === DEAD)).toMatchObject({ durable: true });

    const consumers = await list<{ queue_name: string; ack_required: boolean; prefetch_count: number }>(
      'list_consumers',
      'queue_name',
      'ack_required',
      'prefetch_count',
    );
    expect(consumers.filter((consumer) => consumer.queue_name === QUEUE)).toEqual([{ queue_name: QUEUE, ack_required: true, prefetch_count: PREFETCH }]);
  });

  it("leaves an existing publisher's own declaration (durable, no arguments) valid", async () => {
    // As pika's queue_declare(queue, durable=True) does, on a channel of its own: a refused declaration closes it.
    const other = await connection?.createChannel();
    other?.on('error', () => undefined);
    await expect(other?.assertQueue(QUEUE, { durable: true })).resolves.toMatchObject({ queue: QUEUE, consumerCount: 1 });
    await other?.close();
  });

  it('is declared again when it is deleted under the consumer, which then consumes it again', async () => {
    await channel.deleteQueue(QUEUE);
    await waitFor(
      async () => ((await list<{ queue_name: string }>('list_consumers', 'queue_name')).some((consumer) => consumer.queue_name === QUEUE) ? true : null),
      20_000,
      `a consumer on the re-declared ${QUEUE}`,
    );
    await send({ labels: { alertname: 'AfterDelete' } }, { messageId: 'after-delete' });
    expect((await received()).body.id).toBe('after-delete');
  });
});

describe('valid messages are republished as one alert.received.external', () => {
  it('an Alertmanager webhook payload: every alert normalised, payload fields kept as meta, ids propagated', async () => {
    const before = await counters();
    await send(webhook, { messageId: 'ext-webhook-1', correlationId: 'corr-webhook-1' });

    const { message, body } = await received();
    expect(message.fields.exchange).toBe(EXCHANGES.alerts);
    expect(message.fields.routingKey).toBe(ROUTING_KEYS.alertReceived('external'));
    expect(message.properties.messageId).toBe('ext-webhook-1');
    expect(message.properties.correlationId).toBe('corr-webhook-1');
    expect(message.properties.deliveryMode).toBe(2);
    expect(body.id).toBe('ext-webhook-1');
    expect(body.source).toBe('external');
    expect(Math.abs(Date.parse(body.receivedAt) - Date.now())).toBeLessThan(60_000);
    expect(body.meta).toMatchObject({ receiver: 'sentryhub', groupKey: webhook.groupKey, notification_reason: 'new alerts' });
    expect(body.meta).not.toHaveProperty('alerts');
    expect(body.alerts).toEqual([
      {
        fingerprint: '0000b575cf5f7ad3', // computed as Alertmanager does
        status: 'firing',
        labels: webhook.alerts[0]?.labels,
        annotations: { summary: 'CPU above 90%' },
        startsAt: '2025-01-01T00:00:00Z',
        endsAt: null,
        // A webhook alert has no lease: Alertmanager sends its resolution.
        leaseEndsAt: null,
        generatorURL: 'http://prometheus:9090/graph',
        extra: {},
      },
      {
        // The group key is computed from the labels; the sender's fingerprint is kept for reference only.
        fingerprint: fingerprint({ alertname: 'HighCPU', instance: 'host-2', job: 'node' }),
        senderFingerprint: '0123456789abcdef',
        status: 'resolved',
        labels: webhook.alerts[1]?.labels,
        annotations: {},
        startsAt: '2025-01-01T00:00:00Z',
        endsAt: '2025-01-01T00:10:00Z',
        leaseEndsAt: null,
        generatorURL: null,
        extra: {},
      },
    ]);
    expect(await ready(RECEIVED)).toBe(0);
    expect(await ready(DEAD)).toBe(0);
    expect(await counters()).toEqual({ messages: before.messages + 1, alerts: before.alerts + 2 });
  });

  it('a single postable alert: fingerprint computed, firing, and a new id when the sender gave none', async () => {
    const before = await counters();
    await send({ labels: { alertname: 'X' }, annotations: { summary: 'x' }, runbook: 'https://runbooks/x' });

    const { message, body } = await received();
    expect(message.fields.routingKey).toBe('alert.received.external');
    expect(body.id).toMatch(UUID);
    expect(message.properties.messageId).toBe(body.id);
    expect(message.properties.correlationId).toBe(body.id);
    expect(body.meta).toEqual({});
    expect(body.alerts).toEqual([
      {
        fingerprint: 'd2aeefc389ca7746',
        status: 'firing',
        labels: { alertname: 'X' },
        annotations: { summary: 'x' },
        startsAt: null,
        endsAt: null,
        // The external queue leases only a sender's future endsAt: none here, it never expires.
        leaseEndsAt: null,
        generatorURL: null,
        extra: { runbook: 'https://runbooks/x' },
      },
    ]);
    expect(await ready(RECEIVED)).toBe(0);
    expect(await counters()).toEqual({ messages: before.messages + 1, alerts: before.alerts + 1 });
  });

  it('an array of postable alerts: all of them in one message, an ended alert resolved, a lease within INTAKE_MAX_FUTURE firing', async () => {
    const before = await counters();
    const lease = new Date(Date.now() + 4 * 60_000).toISOString();
    await send(
      [
        { labels: { alertname: 'X' }, startsAt: '2025-01-01T00:00:00Z' },
        { labels: { alertname: 'DiskFull', instance: 'db-1' }, startsAt: '2025-01-01T00:00:00Z', endsAt: '2025-01-01T01:00:00Z' },
        { labels: { alertname: 'Later' }, endsAt: lease },
      ],
      { messageId: 'ext-array-1' },
    );

    const { body } = await received();
    expect(body.id).toBe('ext-array-1');
    expect(body.alerts.map((alert) => [alert.labels['alertname'], alert.status, alert.endsAt])).toEqual([
      ['X', 'firing', null],
      ['DiskFull', 'resolved', '2025-01-01T01:00:00Z'],
      ['Later', 'firing', null],
    ]);
    // Only the sender's future endsAt is a lease on the external queue (no RESOLVE_TIMEOUT).
    expect(body.alerts.map((alert) => alert.leaseEndsAt)).toEqual([null, null, lease]);
    expect(body.alerts[0]?.fingerprint).toBe('d2aeefc389ca7746');
    for (const alert of body.alerts) expect(alert.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(body.alerts.map((alert) => alert.fingerprint)).size).toBe(3);
    expect(await ready(RECEIVED)).toBe(0);
    expect(await counters()).toEqual({ messages: before.messages + 1, alerts: before.alerts + 3 });
  });
});

interface BadCase {
  name: string;
  content: unknown;
  properties?: Options.Publish;
  error: RegExp;
  path: string | RegExp;
}

/** JSON text of `levels` nested arrays, or objects `{"a": ...}`, around `inner`. */
const nested = (levels: number, kind: 'array' | 'object', inner = '1') =>
  kind === 'array' ? `${'['.repeat(levels)}${inner}${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}${inner}${'}'.repeat(levels)}`;

const badCases: BadCase[] = [
  { name: 'invalid JSON', content: Buffer.from('{"labels": {"alertname": '), error: /^invalid JSON: /, path: '' },
  { name: 'bytes that are not UTF-8', content: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), error: /^invalid JSON: .*not valid for encoding utf-8/, path: '' },
  {
    // A sender writing Latin-1: the JSON is well-formed but "é" is the single byte 0xE9.
    name: 'Latin-1 text instead of UTF-8',
    content: Buffer.from('{"labels":{"alertname":"Caf\u00e9Down"}}', 'latin1'),
    error: /^invalid JSON: .*not valid for encoding utf-8/,
    path: '',
  },
  {
    name: 'missing labels (an object without them)',
    content: { hello: 'world' },
    error: /^invalid message: .*expected record.* at labels$/,
    path: 'labels',
  },
  {
    name: 'missing labels in an alert of a webhook payload',
    content: { ...webhook, alerts: [{ status: 'firing', startsAt: '2025-01-01T00:00:00Z' }] },
    error: /^invalid message: .*expected record, received undefined at alerts\.0\.labels$/,
    path: 'alerts.0.labels',
  },
  {
    name: 'a wrong type: a label value that is a number',
    content: { labels: { alertname: 'X', replicas: 3 } },
    error: /^invalid message: .*expected string, received number at labels\.replicas$/,
    path: 'labels.replicas',
  },
  {
    name: 'a wrong type: startsAt as epoch seconds',
    content: [{ labels: { alertname: 'X' }, startsAt: 1_735_689_600 }],
    error: /^invalid message: .*expected string, received number at 0\.startsAt$/,
    path: '0.startsAt',
  },
  {
    name: 'a wrong value: a webhook alert status that is neither firing nor resolved',
    content: { ...webhook, alerts: [{ status: 'burning', labels: { alertname: 'X' }, startsAt: '2025-01-01T00:00:00Z' }] },
    error: /^invalid message: .*"firing"\|"resolved" at alerts\.0\.status$/,
    path: 'alerts.0.status',
  },
  {
    name: 'a JSON scalar (a string)',
    content: 'just a string',
    error: /expected an Alertmanager webhook payload .*, got string/,
    path: '',
  },
  { name: 'a JSON scalar (a number)', content: 42, error: /expected an Alertmanager webhook payload .*, got number/, path: '' },
  {
    name: 'an array whose only alert is bad',
    content: [{ labels: {} }],
    error: /^invalid message: labels must not be empty at 0\.labels$/,
    path: '0.labels',
  },
  {
    name: 'a message whose every alert breaks an intake bound',
    content: [{ labels: { alertname: 'Future' }, startsAt: '9999-12-31T00:00:00Z' }, { labels: { 'bad-name': 'x' } }],
    error: /^invalid message: startsAt 9999-12-31T00:00:00Z is more than 10m after the receipt time \(INTAKE_MAX_FUTURE\) at 0\.startsAt$/,
    path: '0.startsAt',
  },
  {
    name: 'a webhook payload with an empty alerts list',
    content: { ...webhook, alerts: [] },
    error: /^invalid message: alerts must not be empty at alerts$/,
    path: 'alerts',
  },
  { name: 'an empty array', content: [], error: /alerts must not be empty/, path: '' },
  {
    name: 'a wrong content encoding (gzip)',
    content: [{ labels: { alertname: 'X' } }],
    properties: { contentEncoding: 'gzip' },
    error: /unsupported content encoding "gzip"/,
    path: '',
  },
  {
    // A well-formed alert: only its size is wrong (the HTTP gateway answers 413 to it).
    name: 'a 5 MB body',
    // (In an unknown field: as an annotation it would break the 64 KiB bound of annotations first.)
    content: { labels: { alertname: 'Huge' }, description: 'x'.repeat(5 * 1024 * 1024) },
    error: /^message body of 52429\d\d bytes is over the limit of 1048576 bytes \(BODY_LIMIT_BYTES\)$/,
    path: '',
  },
  {
    name: 'JSON nested 10,000 levels deep',
    content: Buffer.from(nested(10_000, 'array')),
    error: /^invalid message: nested deeper than 32 levels at (0\.){31}0$/,
    path: /^(0\.){31}0$/,
  },
  {
    // Kept as an unknown field, it would overflow JSON.stringify's stack when republished.
    name: 'a valid alert carrying an unknown field nested 10,000 levels deep',
    content: Buffer.from(`{"labels":{"alertname":"Deep"},"detail":${nested(10_000, 'object')}}`),
    error: /^invalid message: nested deeper than 32 levels at detail(\.a){31}$/,
    path: /^detail(\.a){31}$/,
  },
];

describe('invalid messages go to <queue>.dead with the reason, never republished', () => {
  it.each(badCases)('$name, while the valid messages around it flow', async ({ content, properties, error, path }) => {
    const before = await counters();
    const tag = Math.random().toString(36).slice(2);
    await send({ labels: { alertname: 'Before', tag } }, { messageId: `before-${tag}` });
    const sent = await send(content, { messageId: `bad-${tag}`, ...properties });
    await send([{ labels: { alertname: 'After', tag } }], { messageId: `after-${tag}` });

    const dead = await next(DEAD);
    expect(dead.properties.messageId).toBe(`bad-${tag}`);
    expect(dead.content.equals(sent)).toBe(true);
    const headers = dead.properties.headers ?? {};
    expect(String(headers[HEADERS.error])).toMatch(error);
    expect(headers[HEADERS.errorPath]).toEqual(typeof path === 'string' ? path : expect.stringMatching(path));
    expect(headers[HEADERS.originalQueue]).toBe(QUEUE);
    expect(headers[HEADERS.originalExchange]).toBe('');
    expect(headers[HEADERS.originalRoutingKey]).toBe(QUEUE);
    if (properties?.contentEncoding) expect(dead.properties.contentEncoding).toBe(properties.contentEncoding);

    const flowed = [(await received()).body, (await received()).body];
    expect(flowed.map((body) => body.id).sort()).toEqual([`after-${tag}`, `before-${tag}`]);
    expect(await ready(RECEIVED)).toBe(0);
    expect(await ready(DEAD)).toBe(0);
    expect(await counters()).toEqual({ messages: before.messages + 2, alerts: before.alerts + 2 });
  });

  it('keeps consuming good messages after a burst of bad ones and leaves nothing unacknowledged', async () => {
    const bad = badCases.map((badCase, index) => ({ ...badCase, messageId: `burst-bad-${index}` }));
    for (const badCase of bad) await send(badCase.content, { messageId: badCase.messageId, ...badCase.properties });
    await send({ labels: { alertname: 'AfterBadOnes' } }, { messageId: 'burst-good' });

    const { body } = await received();
    expect(body.id).toBe('burst-good');
    expect(body.alerts[0]?.labels).toEqual({ alertname: 'AfterBadOnes' });
    const dead = await Promise.all(bad.map(() => next(DEAD)));
    const reasons = new Map(dead.map((message) => [String(message.properties.messageId), String(message.properties.headers?.[HEADERS.error])]));
    for (const badCase of bad) expect(reasons.get(badCase.messageId)).toMatch(badCase.error);

    await expectExternalQueueSettled();
    expect(await ready(RECEIVED)).toBe(0);
    expect(await ready(DEAD)).toBe(0);
  });
});

async function rejectedCount(reason: string): Promise<number> {
  const metric = await registry.getSingleMetric('sentryhub_rabbit_consumer_alerts_rejected_total')?.get();
  return metric?.values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

describe('intake bounds on the external queue: a bad alert is refused alone', () => {
  const MINUTE = 60_000;
  const iso = (at: number) => new Date(at).toISOString();
  /** `at` written with the offset +02:00 (the same instant). */
  const plusTwo = (at: number) => new Date(at + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
  const manyLabels = (count: number) => Object.fromEntries([['alertname', 'Many'], ...Array.from({ length: count - 1 }, (_, i) => [`l${i}`, 'v'])]);

  const cases: { bound: string; alert: (now: number) => Record<string, unknown>; reason: RegExp }[] = [
    { bound: 'label_count', alert: () => ({ labels: manyLabels(129) }), reason: /labels: at most 128 labels per alert \(got 129\)/ },
    {
      bound: 'label_name',
      alert: () => ({ labels: { alertname: 'X', 'app.kubernetes.io/name': 'x' } }),
      reason: /label name "app\.kubernetes\.io\/name" is not of the grammar/,
    },
    { bound: 'label_name_size', alert: () => ({ labels: { alertname: 'X', ['n'.repeat(257)]: 'x' } }), reason: /longer than 256 bytes/ },
    { bound: 'label_value_size', alert: () => ({ labels: { alertname: 'X', text: 'é'.repeat(8_193) } }), reason: /is 16386 bytes, over 16384/ },
    {
      bound: 'annotations_size',
      alert: () => ({ labels: { alertname: 'X' }, annotations: { a: 'x'.repeat(33_000), b: 'y'.repeat(33_000) } }),
      reason: /annotations are 66002 bytes, over 65536/,
    },
    {
      bound: 'starts_in_future',
      alert: () => ({ labels: { alertname: 'X' }, startsAt: '9999-12-31T00:00:00Z' }),
      reason: /startsAt 9999-12-31T00:00:00Z is more than 10m after the receipt time/,
    },
    {
      bound: 'starts_in_future',
      alert: (now) => ({ labels: { alertname: 'X' }, startsAt: plusTwo(now + 11 * MINUTE) }),
      reason: /\+02:00 is more than 10m after/,
    },
    {
      bound: 'ends_in_future',
      alert: (now) => ({ labels: { alertname: 'X' }, startsAt: iso(now - MINUTE), endsAt: iso(now + 11 * MINUTE) }),
      reason: /endsAt .* is more than 10m after/,
    },
    {
      bound: 'ends_before_starts',
      alert: (now) => ({ labels: { alertname: 'X' }, startsAt: iso(now - MINUTE), endsAt: iso(now - 2 * MINUTE) }),
      reason: /endsAt .* is before startsAt/,
    },
    { bound: 'timestamp', alert: () => ({ labels: { alertname: 'X' }, startsAt: '2026-02-30T00:00:00Z' }), reason: /startsAt: / },
  ];

  it.each(cases)('$bound: the good alert of the message is republished, a copy goes to the dead letters with the reason', async ({ bound, alert, reason }) => {
    const before = { ...(await counters()), rejected: await rejectedCount(bound) };
    const tag = Math.random().toString(36).slice(2);
    const good = { labels: { alertname: 'Good', tag } };
    const sent = await send([good, alert(Date.now())], { messageId: `bounds-${tag}` });

    const { body } = await received();
    expect(body.id).toBe(`bounds-${tag}`);
    expect(body.alerts.map((one) => one.labels)).toEqual([good.labels]);
    const dead = await next(DEAD);
    expect(dead.properties.messageId).toBe(`bounds-${tag}`);
    expect(dead.content.equals(sent)).toBe(true);
    const headers = dead.properties.headers ?? {};
    expect(String(headers[HEADERS.error])).toMatch(new RegExp(`^1 of 2 alerts refused \\(the others were republished\\): alert 1 \\(${bound}\\): `));
    expect(String(headers[HEADERS.error])).toMatch(reason);
    expect(String(headers[HEADERS.errorPath])).toMatch(/^1\./);
    expect(headers[HEADERS.originalQueue]).toBe(QUEUE);
    expect(headers[HEADERS.originalRoutingKey]).toBe(QUEUE);
    await expectExternalQueueSettled();
    expect(await ready(RECEIVED)).toBe(0);
    expect(await ready(DEAD)).toBe(0);
    expect(await counters()).toEqual({ messages: before.messages + 1, alerts: before.alerts + 1 });
    expect(await rejectedCount(bound)).toBe(before.rejected + 1);
  });

  it('in a webhook payload: the far-future alert that took groups over is refused, its batch-mate goes through', async () => {
    const payload = alertmanagerWebhook([
      webhookAlert({ labels: { alertname: 'Takeover' }, startsAt: '9999-12-31T00:00:00Z' }),
      webhookAlert({ labels: { alertname: 'Takeover', instance: 'real' } }),
    ]);
    await send(payload, { messageId: 'takeover' });
    const { body } = await received();
    expect(body.alerts.map((one) => [one.labels, one.startsAt])).toEqual([[{ alertname: 'Takeover', instance: 'real' }, '2026-11-26T08:00:00.123456789Z']]);
    expect(body.meta).toMatchObject({ receiver: 'sentryhub' });
    const dead = await next(DEAD);
    expect(String(dead.properties.headers?.[HEADERS.error])).toMatch(
      /^1 of 2 alerts refused .*alert 0 \(starts_in_future\): startsAt: startsAt 9999-12-31T00:00:00Z/,
    );
    expect(dead.properties.headers?.[HEADERS.errorPath]).toBe('alerts.0.startsAt');
  });

  it('keeps what is within the bounds: 128 labels, a 256-byte name, 16 KiB values, an offset time up to INTAKE_MAX_FUTURE ahead', async () => {
    const now = Date.now();
    await send(
      [
        { labels: manyLabels(128) },
        { labels: { alertname: 'Edge', ['n'.repeat(256)]: 'é'.repeat(8_192) }, annotations: { a: 'x'.repeat(65_535) } },
        { labels: { alertname: 'Skewed' }, startsAt: plusTwo(now + 9 * MINUTE) },
      ],
      { messageId: 'within-bounds' },
    );
    const { body } = await received();
    expect(body.alerts.map((one) => one.labels['alertname'])).toEqual(['Many', 'Edge', 'Skewed']);
    await expectExternalQueueSettled();
    expect(await ready(DEAD)).toBe(0);
  });
});

describe('a republish the broker refuses', () => {
  it('is retried later through <queue>.retry.1 and delivered once the route is back, not lost', async () => {
    // Nothing is bound for alert.received.* any more: the mandatory publish comes back unroutable.
    await channel.unbindQueue(RECEIVED, EXCHANGES.alerts, ROUTING_KEYS.allAlertsReceived);
    try {
      await send({ labels: { alertname: 'Unroutable' } }, { messageId: 'retry-1', correlationId: 'corr-retry-1' });
      await waitFor(async () => ((await ready(retryQueueName(QUEUE, 1))) === 1 ? true : null), 10_000, `the message in ${retryQueueName(QUEUE, 1)}`);
      expect(await ready(RECEIVED)).toBe(0);
    } finally {
      await channel.bindQueue(RECEIVED, EXCHANGES.alerts, ROUTING_KEYS.allAlertsReceived);
    }

    const { message, body } = await received();
    expect(body.id).toBe('retry-1');
    expect(message.properties.correlationId).toBe('corr-retry-1');
    expect(body.alerts[0]?.labels).toEqual({ alertname: 'Unroutable' });
    await expectExternalQueueSettled();
    expect(await ready(DEAD)).toBe(0);
    expect(await ready(RECEIVED)).toBe(0);
  });
});
