import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { EXCHANGES, ROUTING_KEYS, type AuditEvent } from '@sentryhub/contracts';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BROKER_HOST = process.env['TEST_RABBITMQ_HOST'] ?? '127.0.0.1';

/**
 * A TCP proxy to the shared RabbitMQ that can be switched off and on: "the broker" appears and
 * disappears for the service under test only, while every other test keeps using RabbitMQ.
 */
class BrokerProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(5672, BROKER_HOST);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Like a broker that died: the port refuses connections and open connections drop. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Readyz {
  status: number;
  body: { status: string; reasons?: Record<string, string> };
}

/** The built admin service (dist/apps/admin/main.js) started while "RabbitMQ" is not there. */
describe('a service started before the broker', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let proxy: BrokerProxy;
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let base = '';
  const output: string[] = [];

  const readyz = async (): Promise<Readyz> => {
    const response = await fetch(`${base}/readyz`);
    return { status: response.status, body: (await response.json()) as Readyz['body'] };
  };
  const metric = async (pattern: RegExp) => {
    const match = pattern.exec(await (await fetch(`${base}/metrics`)).text());
    return match ? Number(match[1]) : null;
  };
  /** Another service's audit event, published straight to the shared broker (not through the proxy). */
  async function auditFromElsewhere(): Promise<string> {
    const event: AuditEvent = {
      id: randomUUID(),
      actor: 'service:alert-processor',
      entity: 'silence',
      entityId: '1',
      action: 'expire',
      changes: {},
      at: new Date().toISOString(),
    };
    const connection = await amqp.connect(vhost.url);
    try {
      const channel = await connection.createConfirmChannel();
      channel.publish(EXCHANGES.audit, ROUTING_KEYS.audit(event.entity, event.action), Buffer.from(JSON.stringify(event)), {
        messageId: event.id,
        contentType: 'application/json',
        persistent: true,
        mandatory: true,
      });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    return event.id;
  }
  const stored = (eventId: string) =>
    waitFor(
      async () => ((await database.db.selectFrom('audit_log').select('id').where('event_id', '=', eventId).execute()).length === 1 ? true : null),
      15_000,
      `audit event ${eventId} in audit_log`,
    );

  beforeAll(async () => {
    await run(process.execPath, ['tools/build/build-app.mjs', 'admin'], { timeout: 120_000 });
    [database, vhost] = await Promise.all([createTestDatabase('broker_late'), createTestVhost('broker-late')]);
    proxy = new BrokerProxy(await freePort());
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['dist/apps/admin/main.js'], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: database.url,
        RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost.vhost)}`,
        RABBITMQ_RETRY_DELAY: '0.5',
        RABBITMQ_HEARTBEAT: '2',
        ADMIN_BOOTSTRAP_KEY: 'broker-late-admin-key-0123456789',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
    child.stderr?.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await proxy?.stop();
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  it('stays up and answers /readyz 503 naming the missing broker (its error only in the log) while the broker is missing', async () => {
    const notReady = await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`admin exited with ${child.exitCode}:\n${output.join('\n')}`);
        const response = await fetch(`${base}/readyz`).catch(() => null);
        if (!response) return null;
        const body = (await response.json()) as Readyz['body'];
        return body.reasons?.['broker'] === 'down' ? { status: response.status, body } : null;
      },
      20_000,
      'the admin to report the missing broker',
    );
    expect(notReady.status).toBe(503);
    expect(notReady.body.reasons?.['subscriptions']).toBe('starting');
    // Anyone can reach /readyz: it names the component, never the error (hosts, ports, messages).
    expect(JSON.stringify(notReady.body)).not.toMatch(/RabbitMQ|ECONNREFUSED|127\.0\.0\.1/);
    await waitFor(
      () => (output.some((line) => line.includes('"not ready"') && /cannot connect to RabbitMQ: .*ECONNREFUSED/.test(line)) ? true : null),
      5_000,
      'the reason in the log',
    );
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // Still refusing after a few more attempts: it keeps retrying, it does not give up or exit.
    await waitFor(
      () => (output.filter((line) => line.includes('cannot connect to RabbitMQ; retrying')).length >= 3 ? true : null),
      15_000,
      'three logged connection attempts',
    );
    expect(child.exitCode).toBeNull();
    expect((await readyz()).status).toBe(503);
  });

  it('becomes ready when the broker appears, and works: consumes audit events and counts them', async () => {
    await proxy.start();
    await waitFor(async () => ((await readyz()).status === 200 ? true : null), 30_000, 'the admin to become ready');
    expect(await metric(/^sentryhub_broker_connected\{[^}]*\} (\d+)$/m)).toBe(1);
    await stored(await auditFromElsewhere());
    await waitFor(
      async () =>
        ((await metric(/^sentryhub_messages_consumed_total\{[^}]*queue="admin.audit-events"[^}]*outcome="acked"[^}]*\} (\d+)$/m)) ?? 0) >= 1 ? true : null,
      5_000,
      'the consumed counter',
    );
  });

  it('reports the lost connection, and recovers with its subscription when the broker comes back', async () => {
    await proxy.stop();
    const lost = await waitFor(
      async () => {
        const state = await readyz();
        return state.status === 503 ? state : null;
      },
      15_000,
      'the admin to notice the lost broker',
    );
    expect(lost.body.reasons?.['broker']).toBe('down');
    expect(await metric(/^sentryhub_broker_connected\{[^}]*\} (\d+)$/m)).toBe(0);
    await proxy.start();
    await waitFor(async () => ((await readyz()).status === 200 ? true : null), 30_000, 'the admin to be ready again');
    await stored(await auditFromElsewhere());
  });

  it('stops cleanly on SIGTERM', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
