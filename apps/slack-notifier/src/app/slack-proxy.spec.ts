import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlertProcessed as AlertProcessedSchema, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertChange, type AlertProcessed } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, startSlackMock, waitFor, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';
import { createSlackSender, type SlackSender } from './slack-client';

/**
 * slack-notifier -> a real nginx running docker/nginx/slack-proxy.conf -> the Slack stand-in.
 * The template is rendered as the official image's entrypoint renders it (envsubst of the
 * variables it is given); only the listen address is moved to a free local port.
 */
const TEMPLATE = fileURLToPath(new URL('../../../../docker/nginx/slack-proxy.conf', import.meta.url));
const STARTS_AT = '2026-11-26T08:00:00.000Z';
/** Debian's nginx (.ci/run installs nginx-light when it is missing); sbin is not on every PATH. */
const NGINX =
  [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'].map((dir) => join(dir, 'nginx')).find((path) => existsSync(path)) ??
  'nginx';

let database: TestDatabase;
let vhost: TestVhost;
let slackMock: SlackMock;
let nginx: { process: ChildProcess; prefix: string; url: string; accessLog: string; errorLog: string };
let sender: SlackSender;
let messaging: Messaging;
let subscription: Subscription;

/** When the notifier got each 429 from the proxy (client clock, after reading the answer). */
const rateLimitedAt: number[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What the image's 20-envsubst-on-templates.sh does: `${NAME}` replaced for the variables set. */
function envsubst(template: string, env: Record<string, string>): string {
  return template.replace(/\$\{(\w+)\}/g, (whole, name: string) => env[name] ?? whole);
}

async function startNginx(webhookUrl: string) {
  const prefix = await mkdtemp(join(tmpdir(), 'sentryhub-nginx-'));
  // nginx's workers drop to `nobody` when it starts as root: they must reach the temp dirs.
  await chmod(prefix, 0o755);
  const port = await freePort();
  const rendered = envsubst(await readFile(TEMPLATE, 'utf8'), { SLACK_WEBHOOK_URL: webhookUrl, NGINX_LOCAL_RESOLVERS: '127.0.0.1' });
  expect(rendered).not.toMatch(/\$\{(SLACK_WEBHOOK_URL|NGINX_LOCAL_RESOLVERS)\}/);
  const listen = /^(\s*)listen 8090;$/m;
  expect(rendered).toMatch(listen);
  await writeFile(join(prefix, 'slack-proxy.conf'), rendered.replace(listen, `$1listen 127.0.0.1:${port};`));
  const accessLog = join(prefix, 'access.log');
  const errorLog = join(prefix, 'error.log');
  // The main configuration the image provides around conf.d/*.conf, with everything in the prefix.
  await writeFile(
    join(prefix, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(prefix, 'nginx.pid')};`,
      `error_log ${errorLog} info;`,
      'events { worker_connections 256; }',
      'http {',
      `  client_body_temp_path ${join(prefix, 'client_body')};`,
      `  proxy_temp_path ${join(prefix, 'proxy')};`,
      `  fastcgi_temp_path ${join(prefix, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(prefix, 'uwsgi')};`,
      `  scgi_temp_path ${join(prefix, 'scgi')};`,
      // When each request ended, how long it took, and what it got: enough to see request starts.
      "  log_format timing '$msec $request_time $status $request_method $uri';",
      `  access_log ${accessLog} timing;`,
      `  include ${join(prefix, 'slack-proxy.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(NGINX, ['-p', `${prefix}/`, '-c', join(prefix, 'nginx.conf'), '-e', errorLog], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')));
  let exited: string | null = null;
  child.on('exit', (code, signal) => void (exited = `nginx exited (${code ?? signal})`));
  child.on('error', (error) => void (exited = `nginx did not start: ${error.message} (install nginx-light, see .ci/run)`));
  const url = `http://127.0.0.1:${port}`;
  nginx = { process: child, prefix, url, accessLog, errorLog };
  await waitFor(
    async () => {
      if (exited) throw new Error(`${exited}: ${stderr}${await readFile(errorLog, 'utf8').catch(() => '')}`);
      const response = await fetch(`${url}/healthz`).catch(() => null);
      return response?.status === 200 ? true : null;
    },
    15_000,
    'nginx to answer /healthz',
  );
}

async function stopNginx() {
  const child = nginx?.process;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }
  if (nginx?.prefix) await rm(nginx.prefix, { recursive: true, force: true });
}

interface LoggedRequest {
  /** When nginx started reading the request, ms since the epoch ($msec - $request_time). */
  start: number;
  end: number;
  status: number;
  method: string;
  uri: string;
}

async function accessLog(): Promise<LoggedRequest[]> {
  const text = await readFile(nginx.accessLog, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [msec, requestTime, status, method, uri] = line.split(' ');
      const end = Number(msec) * 1_000;
      return { start: end - Number(requestTime) * 1_000, end, status: Number(status), method: method ?? '', uri: uri ?? '' };
    });
}

beforeAll(async () => {
  [database, vhost, slackMock] = await Promise.all([createTestDatabase('slack_proxy'), createTestVhost('slack-proxy'), startSlackMock()]);
  await startNginx(slackMock.url);
  const logger = createLogger('slack-proxy-test', 'silent');
  const slack = createSlackSender({ endpoint: `${nginx.url}/slack-proxy/`, timeoutMs: 5_000 });
  sender = {
    ...slack,
    deliver: async (message, log) => {
      const result = await slack.deliver(message, log);
      if (result.outcome === 'retry' && result.rateLimited) rateLimitedAt.push(Date.now());
      return result;
    },
  };
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], retryDelayMs: 200 }), { logger });
  subscription = await subscribe(messaging, {
    queue: QUEUES.slackNotifierAlertsProcessed,
    parse: (json) => AlertProcessedSchema.safeParse(json),
    logger,
    handler: alertProcessedHandler({ db: database.db, slack: sender, registry: new Registry(), defaultChannel: '#general', rulesCacheMs: 0 }),
  });
});

afterAll(async () => {
  await subscription?.cancel();
  await messaging?.shutdown();
  await sender?.close();
  await stopNginx();
  await slackMock?.close();
  await database?.destroy();
  await vhost?.destroy();
});

/** A firing alert (group and instance rows) and the change the alert processor would publish. */
async function firingAlert(labels: Record<string, string>): Promise<AlertChange> {
  const name = labels['alertname'] ?? 'Unknown Alert';
  const group = await database.db
    .insertInto('alert_groups')
    .values({
      fingerprint: randomBytes(8).toString('hex'),
      name,
      labels: JSON.stringify(labels),
      severity: 'critical',
      instance: null,
      source: 'webhook',
      current_status: 'firing',
      firing_count: 1,
      first_occurrence: STARTS_AT,
      last_occurrence: STARTS_AT,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const instance = await database.db
    .insertInto('alert_instances')
    .values({ group_id: group.id, status: 'firing', starts_at: STARTS_AT, annotations: JSON.stringify({ summary: `${name} summary` }), generator_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return {
    change: 'created',
    group: {
      id: group.id,
      fingerprint: 'f',
      name,
      labels,
      severity: 'critical',
      instance: null,
      source: 'webhook',
      status: 'firing',
      firingCount: 1,
      silenced: false,
      silencedUntil: null,
      acknowledged: false,
    },
    instance: {
      id: instance.id,
      status: 'firing',
      startsAt: STARTS_AT,
      endsAt: null,
      annotations: { summary: `${name} summary` },
      generatorURL: null,
      resolutionType: null,
    },
  };
}

async function publish(changes: AlertChange[]): Promise<void> {
  const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status: 'firing', changes };
  await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), event, { correlationId: `proxy-${event.id}` });
}

const sentRows = (team: string) =>
  database.db
    .selectFrom('notifications')
    .innerJoin('alert_groups', 'alert_groups.id', 'notifications.group_id')
    .select(['notifications.status', 'notifications.channel', 'notifications.text', 'notifications.last_error'])
    .where(({ ref, eb }) => eb(eb.fn('jsonb_extract_path_text', [ref('alert_groups.labels'), eb.val('team')]), '=', team))
    .execute();

describe('slack-notifier through the nginx Slack proxy (docker/nginx/slack-proxy.conf)', () => {
  it("forwards {channel, text} to the webhook and Slack's answers back, and serves nothing else", async () => {
    await database.db
      .insertInto('slack_rules')
      .values({
        name: 'proxied',
        match_criteria: JSON.stringify({ team: 'proxied' }),
        message_template: '{{ alert_group.name }}: {{ summary }}',
        updated_at: new Date(),
      })
      .execute();
    slackMock.respondWith((request) => (request.channel === '#proxy-refused' ? { status: 400, body: 'invalid_payload' } : { status: 200, body: 'ok' }));
    await publish([
      await firingAlert({ alertname: 'ViaProxy', team: 'proxied', channel: '#proxy-ok' }),
      await firingAlert({ alertname: 'Refused', team: 'proxied', channel: '#proxy-refused' }),
    ]);

    const rows = await waitFor(async () => {
      const found = await sentRows('proxied');
      return found.length === 2 && found.every((row) => row.status !== 'pending') ? found : null;
    });
    expect(slackMock.requests).toEqual(
      expect.arrayContaining([
        { channel: '#proxy-ok', text: 'ViaProxy: ViaProxy summary', receivedAt: expect.any(Number), status: 200 },
        { channel: '#proxy-refused', text: 'Refused: Refused summary', receivedAt: expect.any(Number), status: 400 },
      ]),
    );
    expect(slackMock.requests).toHaveLength(2);
    expect(rows).toEqual(
      expect.arrayContaining([
        { status: 'sent', channel: '#proxy-ok', text: 'ViaProxy: ViaProxy summary', last_error: null },
        { status: 'failed', channel: '#proxy-refused', text: 'Refused: Refused summary', last_error: 'Slack answered 400: invalid_payload' },
      ]),
    );

    // Only POST to /slack-proxy/ reaches Slack.
    expect((await fetch(`${nginx.url}/slack-proxy/`)).status).toBe(403);
    expect((await fetch(`${nginx.url}/elsewhere`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(slackMock.requests).toHaveLength(2);
    slackMock.respondWith(() => ({ status: 200, body: 'ok' }));
  });

  it("honours the proxy's limit_req 429: nothing is sent before its Retry-After, then everything is delivered", async () => {
    await database.db
      .insertInto('slack_rules')
      .values({
        name: 'limited',
        match_criteria: JSON.stringify({ team: 'limited' }),
        message_template: 'limited {{ alert_group.name }}',
        updated_at: new Date(),
      })
      .execute();
    // One alert per channel: per-channel pacing lets all of them go at once, more than the
    // proxy's burst (5) allows, so the proxy answers some with 429.
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => firingAlert({ alertname: `Burst-${i}`, team: 'limited', channel: `#limited-${i}` })));
    const before = slackMock.requests.length;
    await publish(burst);
    const [firstLimited] = await waitFor(() => (rateLimitedAt.length > 0 ? rateLimitedAt : null), 15_000, 'a 429 from the proxy');
    if (firstLimited === undefined) throw new Error('no 429 recorded');
    // Once the notifier knows of the 429, an alert for an idle channel would go out at once,
    // were the Retry-After not honoured.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await publish([await firingAlert({ alertname: 'AfterLimit', team: 'limited', channel: '#limited-late' })]);

    const rows = await waitFor(
      async () => {
        const found = await sentRows('limited');
        return found.length === 9 && found.every((row) => row.status === 'sent') ? found : null;
      },
      45_000,
      'all 9 notifications sent through the proxy',
    );
    expect(rows).toHaveLength(9);
    const delivered = slackMock.requests.slice(before);
    expect(delivered.map((request) => request.text).sort()).toEqual([...burst.map((change) => `limited ${change.group.name}`), 'limited AfterLimit'].sort());

    const log = (await accessLog()).filter((entry) => entry.uri === '/slack-proxy/' && entry.method === 'POST');
    const limited = log.filter((entry) => entry.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.length).toBe(rateLimitedAt.length);
    // No request reached the proxy after the notifier learned of a 429 and before its Retry-After (1 s) had passed.
    for (const learned of rateLimitedAt) {
      // (Requests already on their way when the 429 came back may land just after it.)
      const early = log.filter((entry) => entry.start > learned + 200 && entry.start < learned + 950);
      expect(early, `requests within the Retry-After of the 429 learned at ${learned}`).toEqual([]);
    }
    // The late alert waited for the Retry-After of the first 429, then went through.
    const late = slackMock.requests.find((request) => request.channel === '#limited-late');
    expect(late?.receivedAt ?? 0).toBeGreaterThanOrEqual(firstLimited + 950);
  });
});
