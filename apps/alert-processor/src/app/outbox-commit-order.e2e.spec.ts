import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AlertProcessed, deadLetterQueueName, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertReceived, type NormalizedAlert } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/alert-identity';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * An `alert.processed` event is a promise that its state is committed: a consumer that reads
 * the database when the event arrives must find it, and a transaction that does not commit
 * must publish nothing. Shown on the built alert-processor run as a real process against the
 * real RabbitMQ and PostgreSQL. Two deferred constraint triggers (checked at COMMIT, after
 * every statement of the batch, its outbox rows included, has run) stand in for a commit that
 * is slow or fails: `SlowCommit*` alerts make the commit take 400 ms, `FailsAtCommit*` ones
 * make it raise. An event published before the commit would reach the consumer during that
 * wait, or for a transaction that then rolls back.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DEAD = deadLetterQueueName(QUEUES.alertProcessorAlertsReceived);

let database: TestDatabase;
let vhost: TestVhost;
let processor: { child: ChildProcess; output: string[]; exited: Promise<unknown> } | undefined;
let connection: ChannelModel;
let publisher: ConfirmChannel;
let consumer: Channel;
/** The consumer's own PostgreSQL connection: not the processor's, not the test's pool. */
let reader: pg.Client;

/** What the consumer saw of each change when its event arrived, read from `reader` before the ack. */
interface Observation {
  eventId: string;
  alertname: string;
  status: 'firing' | 'resolved';
  instanceId: number;
  /** The episode's status in the database at that moment; null when it was not there (not committed). */
  stored: string | null;
}
const observations: Observation[] = [];

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

async function startProcessor(env: Record<string, string>): Promise<void> {
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, ['dist/apps/alert-processor/main.js'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env, HEALTH_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  processor = { child, output, exited };
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`alert-processor exited with ${child.exitCode}:\n${output.join('\n')}`);
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      return response?.status === 200 ? true : null;
    },
    30_000,
    'alert-processor to be ready',
  );
}

beforeAll(async () => {
  // The bundle exactly as `npm run build` makes it, from the sources under test.
  await run(process.execPath, ['tools/build/build-app.mjs', 'alert-processor'], { cwd: ROOT, timeout: 120_000 });
  [database, vhost] = await Promise.all([createTestDatabase('outbox_order'), createTestVhost('outbox-order')]);
  await sql`
    create function test_commit_faults() returns trigger language plpgsql as $$
    declare name text;
    begin
      select g.name into name from alert_groups g where g.id = new.group_id;
      if name like 'SlowCommit%' then perform pg_sleep(0.4); end if;
      if name like 'FailsAtCommit%' then raise exception 'test: the commit of a batch with % fails', name; end if;
      return null;
    end $$`.execute(database.db);
  await sql`
    create constraint trigger test_commit_faults after insert or update on alert_instances
    deferrable initially deferred for each row execute function test_commit_faults()`.execute(database.db);

  await startProcessor({
    RABBITMQ_URL: vhost.url,
    DATABASE_URL: database.url,
    MESSAGE_RETRY_DELAYS_MS: '100,100',
    // One message per batch: the failing alert's batch holds nothing else.
    PROCESSOR_BATCH_WAIT_MS: '0',
    OUTBOX_SWEEP_MS: '200',
  });

  reader = new pg.Client({ connectionString: database.url, application_name: 'outbox-order-consumer' });
  await reader.connect();
  connection = await amqp.connect(vhost.url);
  publisher = await connection.createConfirmChannel();
  consumer = await connection.createChannel();
  // The slack-notifier's queue, read as a notifier would: the event first, then the database.
  await consumer.consume(QUEUES.slackNotifierAlertsProcessed, (message) => {
    if (!message) return;
    const event = AlertProcessed.parse(JSON.parse(message.content.toString()));
    void (async () => {
      for (const change of event.changes) {
        const { rows } = await reader.query<{ status: string }>('select status from alert_instances where id = $1', [change.instance.id]);
        observations.push({
          eventId: event.id,
          alertname: change.group.name,
          status: change.instance.status,
          instanceId: change.instance.id,
          stored: rows[0]?.status ?? null,
        });
      }
      consumer.ack(message);
    })();
  });
}, 180_000);

afterAll(async () => {
  if (processor && processor.child.exitCode === null && processor.child.signalCode === null) {
    processor.child.kill('SIGTERM');
    await processor.exited;
  }
  await connection?.close();
  await reader?.end();
  await Promise.all([vhost?.destroy(), database?.destroy()]);
});

const alertOf = (alertname: string, status: 'firing' | 'resolved'): NormalizedAlert => {
  const labels = { alertname, instance: 'db-1', severity: 'critical' };
  return {
    fingerprint: fingerprint(labels),
    status,
    labels,
    annotations: {},
    startsAt: '2026-11-26T10:00:00.000Z',
    endsAt: status === 'resolved' ? '2026-11-26T10:30:00.000Z' : null,
    generatorURL: null,
    extra: {},
  };
};

/** Publishes one `alert.received` message per alert, as the intake does (confirmed). */
async function receive(alerts: NormalizedAlert[]): Promise<void> {
  for (const alert of alerts) {
    const message: AlertReceived = { id: randomUUID(), receivedAt: new Date().toISOString(), source: 'api', meta: {}, alerts: [alert] };
    publisher.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), Buffer.from(JSON.stringify(message)), {
      contentType: 'application/json',
      persistent: true,
      messageId: message.id,
    });
  }
  await publisher.waitForConfirms();
}

const seen = (alertname: string, status: 'firing' | 'resolved') => observations.filter((o) => o.alertname === alertname && o.status === status);

describe('alert.processed is published only after its transaction committed (the processor as a real process)', () => {
  it('a consumer always finds the episode committed when the event arrives, even when the commit is slow', async () => {
    const names = Array.from({ length: 6 }, (_, n) => `SlowCommit${n}`);
    await receive(names.map((name) => alertOf(name, 'firing')));
    await waitFor(() => (names.every((name) => seen(name, 'firing').length > 0) ? true : null), 30_000, 'every firing event');
    await receive(names.map((name) => alertOf(name, 'resolved')));
    await waitFor(() => (names.every((name) => seen(name, 'resolved').length > 0) ? true : null), 30_000, 'every resolved event');

    const mine = observations.filter((o) => names.includes(o.alertname));
    // Firing: the episode exists (it may be resolved already by the time of the read);
    // resolved: the resolution is visible.
    expect(mine.filter((o) => o.status === 'firing').map((o) => [o.alertname, o.stored !== null])).toEqual(
      mine.filter((o) => o.status === 'firing').map((o) => [o.alertname, true]),
    );
    expect(mine.filter((o) => o.status === 'resolved').map((o) => [o.alertname, o.stored])).toEqual(
      mine.filter((o) => o.status === 'resolved').map((o) => [o.alertname, 'resolved']),
    );
    expect(mine).toHaveLength(names.length * 2);
  });

  it('a transaction that fails at its commit publishes nothing, through every retry until the message is dead-lettered', async () => {
    const failing = 'FailsAtCommit1';
    await receive([alertOf(failing, 'firing')]);
    // Three tries (the first and two retries) fail at COMMIT, then the message is dead-lettered.
    await waitFor(async () => ((await consumer.checkQueue(DEAD)).messageCount === 1 ? true : null), 30_000, 'the failing message dead-lettered');
    // An alert behind it, and a sweep of the outbox, go through: had anything of the failed one been published, it would be here by now.
    await receive([alertOf('AfterTheFailure', 'firing')]);
    await waitFor(() => (seen('AfterTheFailure', 'firing').length > 0 ? true : null), 30_000, 'the event of the next alert');
    await new Promise((resolve) => setTimeout(resolve, 600));

    expect(observations.filter((o) => o.alertname === failing)).toEqual([]);
    expect(await database.db.selectFrom('alert_groups').select('id').where('name', '=', failing).execute()).toEqual([]);
    expect(await database.db.selectFrom('alert_outbox').select('message_id').execute()).toEqual([]);
    expect(processor?.output.join('\n')).toContain('the commit of a batch with FailsAtCommit1 fails');
  });
});
