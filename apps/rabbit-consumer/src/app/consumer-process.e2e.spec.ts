import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deadLetterQueueName, DEFAULT_EXTERNAL_QUEUE, HEADERS, QUEUES } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/alert-identity';
import { alertmanagerWebhook, createTestDatabase, createTestVhost, waitFor, webhookAlert, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_NAME_PREFIX } from './external-intake';

/*
 * The built rabbit-consumer and alert-processor, run as real processes (`node
 * dist/apps/<app>/main.js`) against the real local RabbitMQ and PostgreSQL, in a throwaway vhost
 * and database: what an outside system drops on the external queue must end as alert state in
 * PostgreSQL, exactly once, through a SIGKILL of the consumer and through the broker closing
 * its connection.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const QUEUE = DEFAULT_EXTERNAL_QUEUE;
const DEAD = deadLetterQueueName(QUEUE);
const ACCEPTED = 'sentryhub_rabbit_consumer_messages_accepted_total';

const processes = new Set<RunningApp>();

interface RunningApp {
  port: number;
  child: ChildProcess;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function readyz(app: RunningApp): Promise<number | null> {
  const response = await fetch(`http://127.0.0.1:${app.port}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
  return response?.status ?? null;
}

/** Runs `dist/apps/<app>/main.js` as production does and waits until its /readyz says 200. */
async function startApp(app: string, env: Record<string, string>): Promise<RunningApp> {
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, [`dist/apps/${app}/main.js`], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env, HEALTH_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const running = { port, child, output, exited };
  processes.add(running);
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${app} exited with ${child.exitCode}:\n${output.join('\n')}`);
      return (await readyz(running)) === 200 ? true : null;
    },
    30_000,
    `${app} to be ready`,
  );
  return running;
}

async function acceptedMessages(app: RunningApp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  const match = new RegExp(`^${ACCEPTED}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

let vhost: TestVhost;
let database: TestDatabase;
let connection: ChannelModel | undefined;
let channel: ConfirmChannel;
let env: Record<string, string>;
let consumer: RunningApp;

beforeAll(async () => {
  // The bundles exactly as `npm run build` makes them, from the sources under test.
  await run(process.execPath, ['tools/build/build-app.mjs', 'rabbit-consumer', 'alert-processor'], { cwd: ROOT, timeout: 60_000 });
  [vhost, database] = await Promise.all([createTestVhost('rabbit-consumer-process'), createTestDatabase('rabbit_consumer_process')]);
  env = {
    RABBITMQ_URL: vhost.url,
    DATABASE_URL: database.url,
    RABBITMQ_EXTERNAL_QUEUE: QUEUE,
    RABBITMQ_PREFETCH: '20',
    RABBITMQ_RETRY_DELAY: '0.5',
    // One alert per message here: a longer gathering wait makes the processor's batches bigger.
    PROCESSOR_BATCH_WAIT_MS: '50',
  };
  await startApp('alert-processor', env);
  consumer = await startApp('rabbit-consumer', env);
  connection = await amqp.connect(vhost.url);
  channel = await connection.createConfirmChannel();
});

afterAll(async () => {
  for (const app of processes) if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGKILL');
  await Promise.all([...processes].map((app) => app.exited));
  await connection?.close();
  await Promise.all([vhost?.destroy(), database?.destroy()]);
});

/** Drops messages on the external queue as an outside system would, and waits for the broker's confirms. */
async function send(messages: { body: unknown; messageId: string }[]): Promise<void> {
  for (const { body, messageId } of messages) {
    const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    channel.sendToQueue(QUEUE, content, { contentType: 'application/json', persistent: true, messageId });
  }
  await channel.waitForConfirms();
}

async function externalQueueSettled(): Promise<void> {
  await waitFor(
    async () => {
      const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', '-p', vhost.vhost, 'name', 'messages', '--formatter', 'json'], { timeout: 60_000 });
      const rows = JSON.parse(stdout) as { name: string; messages: number }[];
      const pending = (name: string) => rows.find((row) => row.name === name)?.messages ?? 0;
      return pending(QUEUE) === 0 && pending(QUEUES.alertProcessorAlertsReceived) === 0 ? true : null;
    },
    30_000,
    `${QUEUE} and ${QUEUES.alertProcessorAlertsReceived} to hold no ready or unacknowledged message`,
  );
}

/** Stored groups (with their instance count) of one alert name. */
async function groupsNamed(name: string) {
  return database.db
    .selectFrom('alert_groups')
    .leftJoin('alert_instances', 'alert_instances.group_id', 'alert_groups.id')
    .where('alert_groups.name', '=', name)
    .groupBy('alert_groups.id')
    .select(['alert_groups.fingerprint', 'alert_groups.labels', sql<number>`count(alert_instances.id)::int`.as('instances')])
    .execute();
}

async function waitForGroups(name: string, count: number, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const groups = await groupsNamed(name);
      if (groups.length > count) throw new Error(`${groups.length} groups named ${name}, expected ${count}`);
      return groups.length === count ? groups : null;
    },
    timeoutMs,
    `${count} groups named ${name}`,
  );
}

/** Every dead letter on `<queue>.dead`, by message id, with its reason. */
async function drainDeadLetters(): Promise<Map<string, string[]>> {
  const reasons = new Map<string, string[]>();
  for (let message = await channel.get(DEAD, { noAck: true }); message; message = await channel.get(DEAD, { noAck: true })) {
    const id = String(message.properties.messageId);
    reasons.set(id, [...(reasons.get(id) ?? []), String(message.properties.headers?.[HEADERS.error])]);
  }
  return reasons;
}

describe('each accepted body shape ends as alert state in PostgreSQL', () => {
  it('an Alertmanager webhook payload, a single postable alert and an array of them', async () => {
    const t0 = '2026-03-01T10:00:00Z';
    const t1 = '2026-03-01T10:30:00Z';
    const webhook = alertmanagerWebhook([
      webhookAlert({ labels: { alertname: 'ShapeWebhook', instance: 'host-1', severity: 'critical' }, startsAt: t0 }),
      webhookAlert({ status: 'resolved', labels: { alertname: 'ShapeWebhookResolved', instance: 'host-2' }, startsAt: t0, endsAt: t1 }),
    ]);
    const single = {
      labels: { alertname: 'ShapeSingle', instance: 'web-1', severity: 'info', source: 'partner' },
      annotations: { summary: 'one alert' },
      startsAt: t0,
    };
    const array = [
      { labels: { alertname: 'ShapeArray', instance: 'db-1' }, annotations: { summary: 'first of two' }, startsAt: t0 },
      { labels: { alertname: 'ShapeArrayResolved', instance: 'db-2' }, startsAt: t0, endsAt: t1 },
    ];
    await send([
      { body: webhook, messageId: 'shape-webhook' },
      { body: single, messageId: 'shape-single' },
      { body: array, messageId: 'shape-array' },
    ]);

    const names = ['ShapeWebhook', 'ShapeWebhookResolved', 'ShapeSingle', 'ShapeArray', 'ShapeArrayResolved'];
    await waitFor(
      async () => {
        const rows = await database.db.selectFrom('alert_groups').select('name').where('name', 'in', names).execute();
        return rows.length === names.length ? rows : null;
      },
      30_000,
      'the five groups',
    );
    const rows = await database.db
      .selectFrom('alert_groups')
      .innerJoin('alert_instances', 'alert_instances.group_id', 'alert_groups.id')
      .where('alert_groups.name', 'in', names)
      .select([
        'alert_groups.name',
        'alert_groups.fingerprint',
        'alert_groups.severity',
        'alert_groups.instance',
        'alert_groups.source',
        'alert_groups.current_status',
        'alert_groups.firing_count',
        'alert_instances.status',
        'alert_instances.starts_at',
        'alert_instances.ends_at',
        'alert_instances.annotations',
        'alert_instances.resolution_type',
      ])
      .orderBy('alert_groups.name')
      .execute();
    const at = (iso: string) => new Date(iso);
    const firing = { current_status: 'firing', firing_count: 1, status: 'firing', ends_at: null, resolution_type: null };
    const resolved = { current_status: 'resolved', firing_count: 0, status: 'resolved', ends_at: at(t1), resolution_type: 'normal' };
    expect(rows).toEqual([
      {
        name: 'ShapeArray',
        fingerprint: fingerprint(array[0]?.labels ?? {}),
        severity: 'warning',
        instance: 'db-1',
        source: 'external',
        ...firing,
        starts_at: at(t0),
        annotations: { summary: 'first of two' },
      },
      {
        name: 'ShapeArrayResolved',
        fingerprint: fingerprint(array[1]?.labels ?? {}),
        severity: 'warning',
        instance: 'db-2',
        source: 'external',
        ...resolved,
        starts_at: at(t0),
        annotations: {},
      },
      {
        name: 'ShapeSingle',
        fingerprint: fingerprint(single.labels),
        severity: 'info',
        instance: 'web-1',
        source: 'partner',
        ...firing,
        starts_at: at(t0),
        annotations: { summary: 'one alert' },
      },
      {
        name: 'ShapeWebhook',
        fingerprint: fingerprint({ alertname: 'ShapeWebhook', instance: 'host-1', severity: 'critical' }),
        severity: 'critical',
        instance: 'host-1',
        source: 'external',
        ...firing,
        starts_at: at(t0),
        annotations: { summary: 'CPU above 90%' },
      },
      {
        name: 'ShapeWebhookResolved',
        fingerprint: fingerprint({ alertname: 'ShapeWebhookResolved', instance: 'host-2' }),
        severity: 'warning',
        instance: 'host-2',
        source: 'external',
        ...resolved,
        starts_at: at(t0),
        annotations: { summary: 'CPU above 90%' },
      },
    ]);
  });
});

describe('a consumer killed with SIGKILL in the middle of 2,000 messages', () => {
  it('stores every valid alert exactly once after it is started again, and dead-letters every bad one', async () => {
    const total = 2_000;
    const isBad = (n: number) => n % 100 === 50;
    const alert = (n: number) => ({ labels: { alertname: 'KillTest', n: String(n) }, startsAt: '2026-03-01T11:00:00Z' });
    // The three accepted shapes in turn, and a bad message every 100.
    const body = (n: number) =>
      isBad(n) ? Buffer.from(`{"labels": {"n": ${n}`) : [alertmanagerWebhook([webhookAlert(alert(n))]), alert(n), [alert(n)]][n % 3];
    const before = await acceptedMessages(consumer);
    await send(Array.from({ length: total }, (_, n) => ({ body: body(n), messageId: `kill-${n}` })));

    const acceptedAtKill = await waitFor(
      async () => {
        const accepted = (await acceptedMessages(consumer)) - before;
        return accepted >= 300 ? accepted : null;
      },
      30_000,
      'the consumer to be under way',
    );
    consumer.child.kill('SIGKILL');
    expect(await consumer.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // In the middle indeed: what it had not acked is back in the queue.
    const left = await waitFor(
      async () => {
        const { messageCount, consumerCount } = await channel.checkQueue(QUEUE);
        return consumerCount === 0 ? messageCount : null;
      },
      10_000,
      'the broker to notice the dead consumer',
    );
    expect(acceptedAtKill).toBeLessThan(total);
    expect(left).toBeGreaterThan(0);

    consumer = await startApp('rabbit-consumer', env);
    const valid = Array.from({ length: total }, (_, n) => n).filter((n) => !isBad(n));
    const groups = await waitForGroups('KillTest', valid.length);
    await externalQueueSettled();
    // Nothing trickles in late either.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const settled = await groupsNamed('KillTest');
    expect(settled).toHaveLength(valid.length);
    expect(new Set(settled.map((group) => group.fingerprint)).size).toBe(valid.length);
    expect(settled.map((group) => Number(group.labels['n'])).sort((a, b) => a - b)).toEqual(valid);
    expect(settled.every((group) => group.instances === 1)).toBe(true);
    expect(groups.every((group) => group.fingerprint === fingerprint(group.labels))).toBe(true);

    const dead = await drainDeadLetters();
    const bad = Array.from({ length: total }, (_, n) => n).filter(isBad);
    expect([...dead.keys()].sort()).toEqual(bad.map((n) => `kill-${n}`).sort());
    for (const reasons of dead.values()) for (const reason of reasons) expect(reason).toMatch(/^invalid JSON: /);
  });
});

/** The pid RabbitMQ gives the consumer's own connection (not the short one that checks the queue). */
async function consumerConnectionPid(): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', '-s', 'list_connections', 'pid', 'vhost', 'client_properties'], { timeout: 60_000 });
  const rows = stdout
    .split('\n')
    .map((line) => line.split('\t'))
    .filter(
      ([, name, properties]) =>
        name === vhost.vhost && properties?.includes(`"connection_name","${CONNECTION_NAME_PREFIX}`) && !properties.includes('(declaring'),
    );
  if (rows.length !== 1) throw new Error(`expected one consumer connection in ${vhost.vhost}, found ${rows.length}:\n${stdout}`);
  return rows[0]?.[0] ?? '';
}

describe('the consumer connection closed from the broker side during a stream', () => {
  it('reconnects (/readyz 503, then 200) and the stream completes with nothing lost', async () => {
    const pid = await consumerConnectionPid();
    const statuses: (number | null)[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const status = await readyz(consumer);
        if (statuses.at(-1) !== status) statuses.push(status);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const total = 1_000;
    const alert = (n: number) => [{ labels: { alertname: 'CloseTest', n: String(n) }, startsAt: '2026-03-01T12:00:00Z' }];
    let sent = 0;
    let closed = false;
    /** 20 messages every 100 ms until `done()` says stop or all are sent. */
    const stream = async (done: () => boolean) => {
      while (sent < total && !done()) {
        const batch = Array.from({ length: Math.min(20, total - sent) }, (_, i) => ({ body: alert(sent + i), messageId: `close-${sent + i}` }));
        await send(batch);
        sent += batch.length;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const before = await acceptedMessages(consumer);
    // The stream goes on before, while and after the broker closes the connection.
    const untilClosed = stream(() => closed);
    await waitFor(async () => ((await acceptedMessages(consumer)) - before >= 100 ? true : null), 30_000, 'the stream to be under way');
    await run('rabbitmqctl', ['-q', 'close_connection', pid, 'closed by the consumer-process test'], { timeout: 60_000 });
    closed = true;
    await untilClosed;
    const sentAtClose = sent;
    await stream(() => false);

    const groups = await waitForGroups('CloseTest', total);
    await externalQueueSettled();
    await waitFor(() => (statuses.at(-1) === 200 ? true : null), 30_000, '/readyz to be 200 again');
    polling = false;
    await poller;

    expect(sentAtClose).toBeLessThan(total);
    // Ready, then not ready while it reconnected, then ready again.
    expect(statuses[0]).toBe(200);
    expect(statuses).toContain(503);
    expect(statuses.at(-1)).toBe(200);
    expect(consumer.child.exitCode).toBeNull();
    expect(await consumerConnectionPid()).not.toBe(pid);
    expect(new Set(groups.map((group) => Number(group.labels['n']))).size).toBe(total);
    expect(groups.every((group) => group.instances === 1)).toBe(true);
    expect(await drainDeadLetters()).toEqual(new Map());
  });
});

describe('shutdown', () => {
  it('stops every process gracefully on SIGTERM with exit code 0', async () => {
    const running = [...processes].filter((app) => app.child.exitCode === null && app.child.signalCode === null);
    expect(running).toHaveLength(2);
    for (const app of running) app.child.kill('SIGTERM');
    expect(await Promise.all(running.map((app) => app.exited))).toEqual(running.map(() => ({ code: 0, signal: null })));
  });
});
