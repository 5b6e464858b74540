import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestVhost, waitFor, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildGateway } from './app';

const logger = createLogger('gateway-auth-test', 'silent');
const ROOT = fileURLToPath(new URL('../../../..', import.meta.url));
const TOKEN = 'intake-token-for-the-test';

/** Runs the gateway's real entry point (tsx) with this environment until it exits or `untilMs` passes. */
function runMain(env: Record<string, string>, untilMs = 20_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('WEBHOOK_')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/webhook-gateway/src/main.ts'], {
    cwd: ROOT,
    env: { ...inherited, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:1/none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), untilMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

/** Writes raw HTTP on a socket and collects what comes back until the server closes it or `waitMs` passes. */
async function rawExchange(port: number, request: string, waitMs: number): Promise<{ response: string; closedByServer: boolean }> {
  const socket: Socket = connect(port, '127.0.0.1');
  let response = '';
  let closedByServer = false;
  socket.on('data', (chunk: Buffer) => (response += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => ((closedByServer = true), resolve())));
  socket.write(request);
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, waitMs))]);
  socket.destroy();
  return { response, closedByServer };
}

describe('intake authentication', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  let secured: FastifyInstance;
  let port: number;

  async function received(): Promise<number> {
    let count = 0;
    while (await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true })) count++;
    return count;
  }

  beforeAll(async () => {
    vhost = await createTestVhost('gateway-auth');
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger, publishTimeoutMs: 5_000, dedicatedPublishChannel: true });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    secured = await buildGateway({
      logger,
      messaging,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('gw-auth'),
      tokens: [TOKEN],
      bodyLimitBytes: 64 * 1024,
    });
    await secured.listen({ port: 0, host: '127.0.0.1' });
    const address = secured.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(async () => {
    await secured?.close();
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  beforeEach(async () => {
    await received();
  });

  it('builds no gateway without tokens unless anonymous intake is asked for', async () => {
    const deps = { logger, messaging, readiness: new Readiness([]), registry: createMetricsRegistry('gw-auth-none'), tokens: [], bodyLimitBytes: 1024 };
    await expect(buildGateway(deps)).rejects.toThrow(/WEBHOOK_TOKENS.*WEBHOOK_ALLOW_ANONYMOUS=true/);
    const open = await buildGateway({ ...deps, allowAnonymous: true });
    try {
      const response = await open.inject({ method: 'POST', url: '/api/v2/alerts', payload: [{ labels: { alertname: 'Anonymous' } }] });
      expect(response.statusCode).toBe(202);
      expect(await received()).toBe(1);
    } finally {
      await open.close();
    }
  });

  it('main refuses to start without WEBHOOK_TOKENS and without WEBHOOK_ALLOW_ANONYMOUS=true: exit 1, one line naming both', async () => {
    const refused = await runMain({});
    expect(refused.code).toBe(1);
    const lines = refused.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^invalid configuration: WEBHOOK_TOKENS is not set: .*WEBHOOK_ALLOW_ANONYMOUS=true/);
    // Nothing listened, nothing was logged as started.
    expect(refused.stdout).toBe('');

    const typo = await runMain({ WEBHOOK_ALLOW_ANONYMOUS: 'yes' });
    expect(typo.code).toBe(1);
    expect(typo.stderr.trim()).toBe('invalid configuration: WEBHOOK_ALLOW_ANONYMOUS: must be true or false');

    const explicitNo = await runMain({ WEBHOOK_ALLOW_ANONYMOUS: 'false' });
    expect(explicitNo.code).toBe(1);
    expect(explicitNo.stderr).toMatch(/WEBHOOK_TOKENS is not set/);
  });

  it('main starts with WEBHOOK_ALLOW_ANONYMOUS=true, and says that intake is open', async () => {
    const started = await runMain({ WEBHOOK_ALLOW_ANONYMOUS: 'true' }, 8_000);
    // Killed by the test after its time, not exited on its own with a configuration error.
    expect(started.code).toBeNull();
    expect(started.stderr).not.toMatch(/invalid configuration/);
    expect(started.stdout).toMatch(/anonymous intake \(WEBHOOK_ALLOW_ANONYMOUS=true\)/);
  });

  it.each([
    ['broken JSON', { 'content-type': 'application/json' }, '[{"labels":'],
    ['a body that is not JSON', { 'content-type': 'text/plain' }, 'alertname=X'],
    ['a body over the body limit', { 'content-type': 'application/json' }, JSON.stringify([{ labels: { alertname: 'X', blob: 'x'.repeat(256 * 1024) } }])],
    ['an invalid alert', { 'content-type': 'application/json' }, JSON.stringify([{ labels: {} }])],
  ])('answers 401, not 400/413/415, to a wrong token with %s', async (_what, headers, payload) => {
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${Buffer.from('alertmanager:wrong').toString('base64')}`]) {
      const response = await secured.inject({
        method: 'POST',
        url: '/api/v2/alerts',
        payload,
        headers: { ...headers, ...(authorization ? { authorization } : {}) },
      });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer realm="sentryhub"');
      expect(response.json()).toEqual({ error: 'missing or invalid token' });
    }
    expect(await received()).toBe(0);
  });

  it('checks the token before reading the body: a wrong token is answered at once, while the announced body never comes', async () => {
    const head = (authorization: string, length: number) =>
      `POST /api/v1/webhooks/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nAuthorization: ${authorization}\r\n\r\n{"version":"4",`;
    // Announced over the body limit (64 KiB) or within it: 401 either way, at once.
    for (const length of [50_000_000, 60_000]) {
      const started = Date.now();
      const wrong = await rawExchange(port, head('Bearer wrong-token', length), 5_000);
      expect(wrong.response).toMatch(/^HTTP\/1\.1 401 /);
      expect(wrong.response).toMatch(/missing or invalid token/);
      // The server closed the connection instead of waiting for (or draining) a body that never comes.
      expect(wrong.closedByServer).toBe(true);
      expect(Date.now() - started).toBeLessThan(4_000);
    }

    // The same request with the right token waits for its body: the 401 came from the token check alone.
    const right = await rawExchange(port, head(`Bearer ${TOKEN}`, 60_000), 1_000);
    expect(right.response).toBe('');
    expect(right.closedByServer).toBe(false);
    expect(await received()).toBe(0);
  });

  it('accepts the right token as a bearer token or a basic-auth password', async () => {
    const payload = [{ labels: { alertname: 'Authenticated' } }];
    expect((await secured.inject({ method: 'POST', url: '/api/v2/alerts', payload, headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(202);
    const basic = `Basic ${Buffer.from(`alertmanager:${TOKEN}`).toString('base64')}`;
    expect((await secured.inject({ method: 'POST', url: '/api/v2/alerts', payload, headers: { authorization: basic } })).statusCode).toBe(202);
    await waitFor(async () => ((await channel.checkQueue(QUEUES.alertProcessorAlertsReceived)).messageCount === 2 ? true : null), 5_000, 'two messages');
  });

  it('leaves health, readiness and metrics open', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) expect((await secured.inject({ method: 'GET', url })).statusCode).toBe(200);
  });
});
