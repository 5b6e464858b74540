/**
 * The Alertmanager API v2 with its real clients: SentryHub's admin (in this process) on a real
 * PostgreSQL and RabbitMQ, the real alert-processor (a process run from source), alerts sent to
 * it as the gateway's `POST /api/v2/alerts` normalizes them; amtool; and a real Alertmanager for
 * the differential test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { AlertProcessed, AlertReceived, EXCHANGES, PostableAlert, QUEUES, ROUTING_KEYS, type AlertChange } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { normalizePostableAlert } from '@sentryhub/alert-identity';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { apiKeyStore } from '../../api-keys';
import { buildAdmin } from '../../app';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const logger = createLogger('alertmanager-v2-test', 'silent');
const BOOTSTRAP = 'bootstrap-admin-key-alertmanager-v2';

const AMTOOL = '/usr/bin/amtool';
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

/** The tests skip nothing: a missing binary fails them, naming the Debian package to install. */
function requireBinary(path: string, debianPackage: string): void {
  if (!existsSync(path))
    throw new Error(`${path} is missing: install the Debian package ${debianPackage} (apt-get install ${debianPackage}; .ci/run installs it)`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface SentryHub {
  url: string;
  database: TestDatabase;
  keys: { editor: string; viewer: string };
  /** amtool's `--http.config.file` for each key. */
  httpConfig: { editor: string; viewer: string };
  /** Sends alerts as the gateway's `POST /api/v2/alerts` does and waits until the processor stored them. */
  postAlerts(alerts: unknown[]): Promise<void>;
  /** Posts alerts to the admin's own `POST /api/v2/alerts` (an editor key) and waits until the processor stored them. */
  postViaAdmin(alerts: unknown[]): Promise<void>;
  /** The vhost's URL, to read what the processor publishes. */
  rabbitUrl: string;
  api(method: string, path: string, role?: 'editor' | 'viewer', body?: unknown): Promise<{ status: number; json: unknown }>;
  close(): Promise<void>;
}

async function startSentryHub(label: string, options: { resolveTimeoutMs?: number } = {}): Promise<SentryHub> {
  const [database, vhost] = await Promise.all([createTestDatabase(label), createTestVhost(label)]);
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  let messaging: Messaging | null = null;
  let processor: ChildProcess | null = null;
  let processorOutput = '';
  let app: FastifyInstance | null = null;
  const close = async () => {
    await app?.close();
    if (processor && processor.exitCode === null && processor.signalCode === null) {
      const exited = new Promise((resolve) => processor?.once('exit', resolve));
      processor.kill('SIGTERM');
      await exited;
    }
    await messaging?.shutdown();
    await Promise.all([database.destroy(), (vhost as TestVhost).destroy(), rm(dir, { recursive: true, force: true })]);
  };
  try {
    // The real alert-processor, as a process run from its source.
    const healthPort = await freePort();
    processor = spawn(process.execPath, ['--import', 'tsx', 'apps/alert-processor/src/main.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        RABBITMQ_URL: vhost.url,
        HEALTH_PORT: String(healthPort),
        LOG_LEVEL: 'warn',
        PROCESSOR_BATCH_WAIT_MS: '5',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = processor;
    child.stdout?.on('data', (chunk: Buffer) => (processorOutput += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (processorOutput += chunk.toString()));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`alert-processor exited with ${child.exitCode}: ${processorOutput}`);
        return (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => null))?.status === 200 ? true : null;
      },
      60_000,
      'alert-processor ready',
    );
    const processedAlerts = async () => {
      const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      return [...text.matchAll(/^sentryhub_processor_alerts_total(?:\{[^}]*\})? (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    const broker = messaging;
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    const [editor, viewer] = await Promise.all([store.create('amtool-editor', 'editor'), store.create('amtool-viewer', 'viewer')]);
    const keys = { editor: editor.key, viewer: viewer.key };
    const httpConfig = { editor: join(dir, 'editor.yml'), viewer: join(dir, 'viewer.yml') };
    await Promise.all([
      writeFile(httpConfig.editor, `authorization:\n  credentials: ${keys.editor}\n`),
      writeFile(httpConfig.viewer, `authorization:\n  credentials: ${keys.viewer}\n`),
    ]);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => broker,
      readiness: new Readiness([]),
      registry: createMetricsRegistry(`${label}-admin`),
      defaultChannel: '#general',
      ...(options.resolveTimeoutMs === undefined ? {} : { resolveTimeoutMs: options.resolveTimeoutMs }),
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });

    let sent = 0;
    return {
      url,
      database,
      keys,
      httpConfig,
      rabbitUrl: vhost.url,
      async postAlerts(alerts) {
        const now = new Date();
        const normalized = alerts.map((alert) => normalizePostableAlert(PostableAlert.parse(alert), now));
        const message: AlertReceived = { id: randomUUID(), receivedAt: now.toISOString(), source: 'api', meta: {}, alerts: normalized };
        await broker.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), message, { messageId: message.id });
        sent += normalized.length;
        // Stored when the processor's own counter (its /metrics) has counted every alert sent: it counts after commit.
        await waitFor(async () => ((await processedAlerts()) >= sent ? true : null), 20_000, `${sent} alerts stored by the processor`);
      },
      async postViaAdmin(alerts) {
        const response = await fetch(`${url}/api/v2/alerts`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keys.editor}`, 'content-type': 'application/json' },
          body: JSON.stringify(alerts),
        });
        const body = (await response.json()) as { accepted?: number };
        if (response.status !== 200 || body.accepted !== alerts.length)
          throw new Error(`POST /api/v2/alerts answered ${response.status} ${JSON.stringify(body)}`);
        sent += alerts.length;
        await waitFor(async () => ((await processedAlerts()) >= sent ? true : null), 20_000, `${sent} alerts stored by the processor`);
      },
      async api(method, path, role = 'viewer', body) {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${keys[role]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        return { status: response.status, json: text === '' ? null : JSON.parse(text) };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs amtool against a URL with an HTTP client configuration (the API key). */
function amtool(url: string, httpConfigFile: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      AMTOOL,
      [`--alertmanager.url=${url}`, `--http.config.file=${httpConfigFile}`, '--no-version-check', ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface RealAlertmanager {
  url: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  stop(): Promise<void>;
}

/** A real Alertmanager: temp config and storage, clustering off, on a free port of 127.0.0.1. */
async function startAlertmanager(
  configuration = 'route:\n  receiver: sentryhub\n  group_wait: 1s\nreceivers:\n  - name: sentryhub\n',
): Promise<RealAlertmanager> {
  requireBinary(ALERTMANAGER, 'prometheus-alertmanager');
  const dir = await mkdtemp(join(tmpdir(), 'alertmanager-'));
  const config = join(dir, 'alertmanager.yml');
  await writeFile(config, configuration);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    ALERTMANAGER,
    [
      `--config.file=${config}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus-alertmanager exited with ${child.exitCode}: ${output}`);
        return (await fetch(`${url}/-/ready`).catch(() => null))?.ok ? true : null;
      },
      30_000,
      'Alertmanager ready',
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    async api(method, path, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let json: unknown = text;
      try {
        json = text === '' ? null : JSON.parse(text);
      } catch {
        // a plain-text answer stays text
      }
      return { status: response.status, json };
    },
    stop,
  };
}

interface AmtoolAlert {
  fingerprint: string;
  labels: Record<string, string>;
  status: { state: string; silencedBy: string[]; inhibitedBy: string[] };
  receivers: { name: string }[];
}
interface AmtoolSilence {
  id: string;
  status: { state: string };
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  createdBy: string;
  comment: string;
}

const alert = (labels: Record<string, string>) => ({
  labels,
  annotations: { summary: `${labels['alertname']} on ${labels['instance']}` },
  startsAt: '2026-11-26T10:00:00Z',
  generatorURL: 'http://prometheus.example:9090/graph',
});

describe('amtool against the admin service (Alertmanager API v2, API keys in --http.config.file)', () => {
  let hub: SentryHub;
  const run = (role: 'editor' | 'viewer', ...args: string[]) => amtool(hub.url, hub.httpConfig[role], args);
  const json = <T>(result: { code: number; stdout: string; stderr: string }): T => {
    expect(result.stderr, result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as T;
  };
  const instances = (alerts: AmtoolAlert[]) => alerts.map((a) => a.labels['instance']).sort();

  beforeAll(async () => {
    requireBinary(AMTOOL, 'prometheus-alertmanager');
    hub = await startSentryHub('amtool');
    // A Slack rule for the web team: a receiver of the web alerts only.
    await hub.database.db
      .insertInto('slack_rules')
      .values({ name: 'web-team', priority: 10, match_criteria: JSON.stringify({ team: 'web' }), slack_channel: '#web', message_template: '{{ summary }}' })
      .execute();
    await hub.postAlerts([
      alert({ alertname: 'DiskFull', instance: 'db-1', severity: 'critical', team: 'storage' }),
      alert({ alertname: 'HighCPU', instance: 'web-1', severity: 'warning', team: 'web' }),
      alert({ alertname: 'HighCPU', instance: 'web-2', severity: 'warning', team: 'web' }),
    ]);
  });

  afterAll(async () => {
    await hub?.close();
  });

  it('alert query lists every firing alert, with its receivers', async () => {
    const alerts = json<AmtoolAlert[]>(await run('viewer', 'alert', 'query', '-o', 'json'));
    expect(instances(alerts)).toEqual(['db-1', 'web-1', 'web-2']);
    expect(alerts.every((a) => a.status.state === 'active' && a.status.silencedBy.length === 0)).toBe(true);
    expect(alerts.find((a) => a.labels['instance'] === 'web-1')?.receivers).toEqual([{ name: 'web-team' }]);
    expect(alerts.find((a) => a.labels['instance'] === 'db-1')?.receivers).toEqual([]);
    const simple = await run('viewer', 'alert', 'query');
    expect(simple.code).toBe(0);
    expect(simple.stdout).toMatch(/^Alertname\s+Starts At\s+Summary/);
    expect(simple.stdout).toContain('DiskFull');
  });

  it('alert query with matchers, bare and quoted, equality and regex', async () => {
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json', 'alertname=HighCPU')))).toEqual(['web-1', 'web-2']);
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json', 'instance=~"web-1|db-.*"')))).toEqual(['db-1', 'web-1']);
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json', 'alertname=HighCPU', 'instance!=web-1')))).toEqual(['web-2']);
    // amtool's first bare argument is an alertname.
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json', 'DiskFull')))).toEqual(['db-1']);
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json', '--receiver=web-.*')))).toEqual(['web-1', 'web-2']);
    const bad = await run('viewer', 'alert', 'query', '-o', 'json', 'instance=~"(unclosed"');
    expect(bad.code).not.toBe(0);
  });

  it('a viewer key cannot add a silence; nothing is written', async () => {
    const refused = await run('viewer', 'silence', 'add', 'alertname=HighCPU', '-c', 'viewer try', '-a', 'viewer');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/403|Forbidden|forbidden/);
    expect(await hub.database.db.selectFrom('silences').select('id').execute()).toEqual([]);
  });

  let silenceId = '';

  it('silence add with a regex matcher: the matched alerts report silencedBy with its id', async () => {
    const added = await run(
      'editor',
      'silence',
      'add',
      'instance=~"web-1|db-.*"',
      '-c',
      'maintenance of web-1 and the databases',
      '-a',
      'ops@example.com',
      '-d',
      '2h',
    );
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    silenceId = added.stdout.trim();
    expect(silenceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const { status, json: alerts } = await hub.api('GET', '/api/v2/alerts');
    expect(status).toBe(200);
    const byInstance = Object.fromEntries((alerts as AmtoolAlert[]).map((a) => [a.labels['instance'], a.status]));
    expect(byInstance['web-1']).toEqual({ state: 'suppressed', silencedBy: [silenceId], inhibitedBy: [] });
    expect(byInstance['db-1']).toEqual({ state: 'suppressed', silencedBy: [silenceId], inhibitedBy: [] });
    expect(byInstance['web-2']).toEqual({ state: 'active', silencedBy: [], inhibitedBy: [] });

    // amtool alert query shows active alerts only by default; --silenced adds the silenced ones.
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json')))).toEqual(['web-2']);
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json', '--silenced')))).toEqual(['db-1', 'web-1']);
  });

  it('silence query shows it; it is the same silence as /api/v1/silences, with its audit row', async () => {
    const silences = json<AmtoolSilence[]>(await run('viewer', 'silence', 'query', '-o', 'json'));
    expect(silences).toHaveLength(1);
    expect(silences[0]).toMatchObject({
      id: silenceId,
      status: { state: 'active' },
      createdBy: 'ops@example.com',
      comment: 'maintenance of web-1 and the databases',
      matchers: [{ name: 'instance', value: 'web-1|db-.*', isRegex: true, isEqual: true }],
    });
    expect((await run('viewer', 'silence', 'query', '-q')).stdout.trim()).toBe(silenceId);
    expect(json<AmtoolSilence[]>(await run('viewer', 'silence', 'query', '-o', 'json', 'instance=~"web-1|db-.*"'))).toHaveLength(1);
    expect(json<AmtoolSilence[]>(await run('viewer', 'silence', 'query', '-o', 'json', 'instance=web-1'))).toHaveLength(0);

    const v1 = await hub.api('GET', '/api/v1/silences');
    const [row] = (v1.json as { items: { id: number; comment: string }[] }).items;
    expect(row?.comment).toBe('maintenance of web-1 and the databases');
    const audit = await hub.database.db.selectFrom('audit_log').select(['entity', 'entity_id', 'action', 'actor']).where('entity', '=', 'silence').execute();
    expect(audit).toEqual([{ entity: 'silence', entity_id: String(row?.id), action: 'create', actor: 'key:amtool-editor' }]);
  });

  it('silence expire ends it: alerts active again, the silence listed as expired, audited', async () => {
    const expired = await run('editor', 'silence', 'expire', silenceId);
    expect(expired.stderr).toBe('');
    expect(expired.code).toBe(0);
    expect(json<AmtoolSilence[]>(await run('viewer', 'silence', 'query', '-o', 'json'))).toEqual([]);
    const listed = json<AmtoolSilence[]>(await run('viewer', 'silence', 'query', '-o', 'json', '--expired'));
    expect(listed.map((s) => [s.id, s.status.state])).toEqual([[silenceId, 'expired']]);
    expect(instances(json(await run('viewer', 'alert', 'query', '-o', 'json')))).toEqual(['db-1', 'web-1', 'web-2']);
    const actions = await hub.database.db.selectFrom('audit_log').select('action').where('entity', '=', 'silence').orderBy('at').execute();
    expect(actions.map((a) => a.action)).toEqual(['create', 'expire']);
    // Expiring it again is refused, as Alertmanager refuses it.
    const again = await run('editor', 'silence', 'expire', silenceId);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already expired');
  });

  it('answers 401 without a key', async () => {
    const response = await fetch(`${hub.url}/api/v2/alerts`);
    expect(response.status).toBe(401);
  });

  it('alert add posts through the admin (editor key): alert query then finds it, with its lease; a viewer key is refused', async () => {
    const refused = await run('viewer', 'alert', 'add', 'alertname=ViewerTry', 'instance=cache-9', '--annotation=summary=not allowed');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/403|Forbidden|forbidden/);

    const before = Date.now();
    const added = await run('editor', 'alert', 'add', 'alertname=QueueBacklog', 'instance=mq-1', 'severity=warning', '--annotation=summary=backlog on mq-1');
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    // Accepted only after RabbitMQ confirmed it; stored once the real processor has consumed it.
    const found = await waitFor(
      async () => {
        const alerts = json<(AmtoolAlert & { endsAt: string })[]>(await run('viewer', 'alert', 'query', '-o', 'json', 'alertname=QueueBacklog'));
        return alerts.length > 0 ? alerts : null;
      },
      20_000,
      'QueueBacklog listed by amtool alert query',
    );
    expect(found.map((a) => [a.labels, a.status.state])).toEqual([[{ alertname: 'QueueBacklog', instance: 'mq-1', severity: 'warning' }, 'active']]);
    // Posted without endsAt: its lease is the receipt + RESOLVE_TIMEOUT (5m), as on the gateway's /api/v2/alerts.
    const lease = Date.parse(found[0]?.endsAt ?? '');
    expect(lease).toBeGreaterThanOrEqual(before + 5 * 60_000 - 1_000);
    expect(lease).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
    // The viewer's alert was never published: the editor's later one is stored, it is not.
    const groups = await hub.database.db.selectFrom('alert_groups').select('labels').execute();
    expect(groups.map((g) => (g.labels as Record<string, string>)['alertname'])).not.toContain('ViewerTry');
  });
});

describe("POST /api/v2/alerts on the admin: the intake of the gateway (@sentryhub/intake), on the admin's broker", () => {
  let hub: SentryHub;
  const post = async (role: 'editor' | 'viewer', body: unknown, url = hub.url) => {
    const response = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hub.keys[role]}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), json: (await response.json()) as unknown };
  };
  const storedNames = async () =>
    (await hub.database.db.selectFrom('alert_groups').select('labels').execute()).map((g) => (g.labels as Record<string, string>)['alertname']).sort();
  const waitStored = (name: string) => waitFor(async () => ((await storedNames()).includes(name) ? true : null), 20_000, `${name} stored by the processor`);

  beforeAll(async () => {
    hub = await startSentryHub('am-post');
  });

  afterAll(async () => {
    await hub?.close();
  });

  it('an editor key: 200 {accepted, id} after the confirm, the alerts stored by the real processor with their leases', async () => {
    const endsAt = new Date(Date.now() + 120_000).toISOString();
    const { status, json } = await post('editor', [
      { labels: { alertname: 'PostedOne', instance: 'a-1' }, annotations: { summary: 'one' }, startsAt: new Date(Date.now() - 60_000).toISOString(), endsAt },
      { labels: { alertname: 'PostedTwo', instance: 'a-2' }, annotations: { summary: 'two' } },
    ]);
    expect(status).toBe(200);
    expect(json).toEqual({ accepted: 2, id: expect.any(String) });
    await waitStored('PostedOne');
    await waitStored('PostedTwo');
    const { json: listed } = await hub.api('GET', '/api/v2/alerts');
    const byName = new Map((listed as { labels: Record<string, string>; endsAt: string }[]).map((a) => [a.labels['alertname'], a]));
    // The sender's future endsAt is the lease; without one, receipt + RESOLVE_TIMEOUT.
    expect(byName.get('PostedOne')?.endsAt).toBe(endsAt);
    expect(Date.parse(byName.get('PostedTwo')?.endsAt ?? '') - Date.now()).toBeGreaterThan(4 * 60_000);
  });

  it('a viewer key: 403, nothing published', async () => {
    const refused = await post('viewer', [{ labels: { alertname: 'ByViewer', instance: 'v-1' } }]);
    expect(refused.status).toBe(403);
    // A later post by an editor is stored; the viewer's, earlier on the same queue, is not.
    expect((await post('editor', [{ labels: { alertname: 'AfterViewer', instance: 'v-2' } }])).status).toBe(200);
    await waitStored('AfterViewer');
    expect(await storedNames()).not.toContain('ByViewer');
  });

  it('refuses a bad alert alone: the good one is stored, the bad one listed in rejected with its bound', async () => {
    const { status, json } = await post('editor', [
      { labels: { alertname: 'GoodBeside', instance: 'g-1' } },
      { labels: { alertname: 'BadName', 'not-a-label': 'x' } },
    ]);
    expect(status).toBe(200);
    const body = json as { accepted: number; rejected: { index: number; reason: string; bound: string }[] };
    expect(body.accepted).toBe(1);
    expect(body.rejected).toHaveLength(1);
    expect(body.rejected[0]).toMatchObject({ index: 1 });
    expect(body.rejected[0]?.reason).toContain('not-a-label');
    await waitStored('GoodBeside');
    expect(await storedNames()).not.toContain('BadName');
  });

  it('400 with a message naming the problem when no alert is usable; nothing published', async () => {
    const none = await post('editor', [{ labels: { alertname: 'AllBad', 'bad name': 'x' } }]);
    expect(none.status).toBe(400);
    expect(typeof none.json).toBe('string');
    expect(none.json).toMatch(/no alert accepted \(1 refused\)/);
    const notAnArray = await post('editor', { labels: { alertname: 'NotAnArray' } });
    expect(notAnArray.status).toBe(400);
    expect(notAnArray.json).toMatch(/invalid body/);
    expect((await post('editor', [{ labels: { alertname: 'AfterBad', instance: 'b-1' } }])).status).toBe(200);
    await waitStored('AfterBad');
    expect(await storedNames()).not.toContain('AllBad');
  });

  it('503 with Retry-After while the admin has no broker connection', async () => {
    const disconnected = await buildAdmin({
      logger,
      db: hub.database.db,
      keys: apiKeyStore(hub.database.db),
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('am-post-disconnected'),
      defaultChannel: '#general',
    });
    try {
      const url = await disconnected.listen({ port: 0, host: '127.0.0.1' });
      const answer = await post('editor', [{ labels: { alertname: 'NoBroker', instance: 'n-1' } }], url);
      expect(answer.status).toBe(503);
      expect(answer.retryAfter).toBe('5');
      expect(answer.json).toMatch(/not connected to RabbitMQ/);
    } finally {
      await disconnected.close();
    }
  });
});

/** The JSON shape of a value: field names and types, arrays as the union of their elements' shapes. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return { array: [...new Set(value.map((item) => JSON.stringify(shapeOf(item))))].sort() };
  if (value === null) return 'null';
  if (typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((key) => [key, shapeOf((value as Record<string, unknown>)[key])]),
    );
  return typeof value;
}

describe('differential: the same alerts and silences sent to a real Alertmanager and to SentryHub', () => {
  let hub: SentryHub;
  let am: RealAlertmanager;
  /** Alertmanager's silence id -> SentryHub's, from the answers to the same requests. */
  const ids = new Map<string, string>();
  const hubIds = (amIds: string[]) => amIds.map((id) => ids.get(id) ?? `unmapped:${id}`).sort();

  const startsAt = new Date(Date.now() - 10 * 60_000).toISOString();
  const alerts = [
    { alertname: 'DiskFull', instance: 'db-1', severity: 'critical', team: 'storage' },
    { alertname: 'DiskFull', instance: 'db-2', severity: 'warning', team: 'storage' },
    { alertname: 'HighCPU', instance: 'web-1', severity: 'warning', team: 'web' },
    { alertname: 'HighCPU', instance: 'web-2', severity: 'warning', team: 'web' },
    { alertname: 'Latency', instance: 'api-1', severity: 'warning', team: 'api', path: '/v1/orders' },
  ].map((labels) => ({
    labels,
    annotations: { summary: `${labels.alertname} on ${labels.instance}` },
    startsAt,
    generatorURL: 'http://prometheus.example:9090/graph?g0.expr=up',
  }));

  const silence = (matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[], comment: string, from = new Date(), hours = 2) => ({
    matchers,
    startsAt: from.toISOString(),
    endsAt: new Date(from.getTime() + hours * 3_600_000).toISOString(),
    createdBy: 'differential@example.com',
    comment,
  });

  /** Posts one silence to both; returns Alertmanager's id (SentryHub's is in the map). */
  async function postBoth(amBody: object, hubBody: object = amBody): Promise<string> {
    const [fromAm, fromHub] = await Promise.all([am.api('POST', '/api/v2/silences', amBody), hub.api('POST', '/api/v2/silences', 'editor', hubBody)]);
    expect(fromAm.status, JSON.stringify(fromAm.json)).toBe(200);
    expect(fromHub.status, JSON.stringify(fromHub.json)).toBe(200);
    const amId = (fromAm.json as { silenceID: string }).silenceID;
    ids.set(amId, (fromHub.json as { silenceID: string }).silenceID);
    return amId;
  }

  /** `amtool silence update`: read the silence from each system, change it, post it back with its id. */
  async function updateBoth(amId: string, change: (s: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
    const hubId = ids.get(amId) ?? '';
    const [current, mine] = await Promise.all([am.api('GET', `/api/v2/silence/${amId}`), hub.api('GET', `/api/v2/silence/${hubId}`)]);
    const body = (s: unknown) => {
      const { id, matchers, startsAt: from, endsAt, createdBy, comment } = s as Record<string, unknown>;
      return change({ id, matchers, startsAt: from, endsAt, createdBy, comment });
    };
    return postBoth(body(current.json), body(mine.json));
  }

  const byFingerprint = (list: unknown) => new Map((list as GettableAlertJson[]).map((alert) => [alert.fingerprint, alert]));
  interface GettableAlertJson {
    fingerprint: string;
    labels: Record<string, string>;
    receivers: { name: string }[];
    status: { state: string; silencedBy: string[]; inhibitedBy: string[] };
  }

  beforeAll(async () => {
    requireBinary(ALERTMANAGER, 'prometheus-alertmanager');
    [hub, am] = await Promise.all([startSentryHub('differential'), startAlertmanager()]);
    // Alertmanager's one receiver is `sentryhub`; SentryHub's receivers are its rules: a catch-all of that name.
    await hub.database.db
      .insertInto('slack_rules')
      .values({ name: 'sentryhub', priority: 0, match_criteria: JSON.stringify({}), slack_channel: '#alerts', message_template: '{{ summary }}' })
      .execute();
  });

  afterAll(async () => {
    await Promise.all([hub?.close(), am?.stop()]);
  });

  it('runs one sequence of alert posts, silences, updates and expiries on both', async () => {
    const posted = await am.api('POST', '/api/v2/alerts', alerts);
    expect(posted.status).toBe(200);
    await hub.postAlerts(alerts);

    const web = await postBoth(silence([{ name: 'team', value: 'web|api', isRegex: true, isEqual: true }], 'web and api maintenance'));
    const disks = await postBoth(
      silence(
        [
          { name: 'alertname', value: 'DiskFull', isRegex: false, isEqual: true },
          { name: 'severity', value: 'critical', isRegex: false, isEqual: false },
        ],
        'small disks',
      ),
    );
    const pending = await postBoth(
      silence([{ name: 'instance', value: 'db-1', isRegex: false, isEqual: true }], 'db-1 tonight', new Date(Date.now() + 3_600_000)),
    );
    const web2 = await postBoth(
      silence(
        [
          { name: 'alertname', value: 'HighCPU', isRegex: false, isEqual: true },
          { name: 'instance', value: 'web-2', isRegex: false, isEqual: true },
        ],
        'web-2 reboot',
      ),
    );

    // Same matchers, later end: updated in place on both (the id stays).
    const extended = await updateBoth(disks, (s) => ({ ...s, endsAt: new Date(Date.now() + 5 * 3_600_000).toISOString() }));
    expect(extended).toBe(disks);
    expect(ids.get(extended)).toBe(ids.get(disks));
    // Other matchers: the old one is expired and a new one (new id) replaces it, on both.
    const webOnly = await updateBoth(web, (s) => ({
      ...s,
      matchers: [{ name: 'team', value: 'web', isRegex: false, isEqual: true }],
      comment: 'web maintenance',
    }));
    expect(webOnly).not.toBe(web);
    expect(ids.get(webOnly)).not.toBe(ids.get(web));
    // Expired through DELETE on both.
    const [amDelete, hubDelete] = await Promise.all([
      am.api('DELETE', `/api/v2/silence/${web2}`),
      hub.api('DELETE', `/api/v2/silence/${ids.get(web2)}`, 'editor'),
    ]);
    expect([amDelete.status, hubDelete.status]).toEqual([200, 200]);
    expect(ids.size).toBe(5);
    expect(pending).toBeTruthy();
  });

  it('leaves the same active and suppressed fingerprints, each silenced by the same silences', async () => {
    const [amAlerts, hubAlerts] = await Promise.all([am.api('GET', '/api/v2/alerts'), hub.api('GET', '/api/v2/alerts')]);
    const theirs = byFingerprint(amAlerts.json);
    const ours = byFingerprint(hubAlerts.json);
    expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
    expect(ours.size).toBe(5);
    const states = (alertsByFp: Map<string, GettableAlertJson>, state: string) =>
      [...alertsByFp.values()]
        .filter((a) => a.status.state === state)
        .map((a) => a.fingerprint)
        .sort();
    expect(states(ours, 'active')).toEqual(states(theirs, 'active'));
    expect(states(ours, 'suppressed')).toEqual(states(theirs, 'suppressed'));
    for (const [fingerprint, alert] of theirs) {
      expect(ours.get(fingerprint)?.status.silencedBy.slice().sort(), fingerprint).toEqual(hubIds(alert.status.silencedBy));
      expect(ours.get(fingerprint)?.receivers, fingerprint).toEqual(alert.receivers);
      expect(ours.get(fingerprint)?.labels).toEqual(alert.labels);
    }
    // And what that is: web-1 and web-2 by the replacing silence, db-2 by the extended one; db-1 and api-1 active.
    const instanceStates = Object.fromEntries([...ours.values()].map((a) => [a.labels['instance'], [a.status.state, a.status.silencedBy.length]]));
    expect(instanceStates).toEqual({
      'db-1': ['active', 0],
      'db-2': ['suppressed', 1],
      'web-1': ['suppressed', 1],
      'web-2': ['suppressed', 1],
      'api-1': ['active', 0],
    });
  });

  it('filters the same: matchers, active, silenced', async () => {
    for (const query of [
      '?filter=team%3D~%22web%7Capi%22',
      '?filter=alertname%3DDiskFull&filter=instance!%3Ddb-1',
      '?active=false',
      '?silenced=false',
      '?filter=path%3D%22%2Fv1%2Forders%22',
      '?filter=path%3D%22%22',
    ]) {
      const [theirs, ours] = await Promise.all([am.api('GET', `/api/v2/alerts${query}`), hub.api('GET', `/api/v2/alerts${query}`)]);
      expect(ours.status, query).toBe(theirs.status);
      expect([...byFingerprint(ours.json).keys()].sort(), query).toEqual([...byFingerprint(theirs.json).keys()].sort());
    }
    const [badAm, badHub] = await Promise.all([am.api('GET', '/api/v2/alerts?filter=nonsense'), hub.api('GET', '/api/v2/alerts?filter=nonsense')]);
    expect([badHub.status, typeof badHub.json]).toEqual([badAm.status, typeof badAm.json]);
  });

  it('lists the same silences in the same states and order', async () => {
    const [theirs, ours] = await Promise.all([am.api('GET', '/api/v2/silences'), hub.api('GET', '/api/v2/silences')]);
    type S = { id: string; status: { state: string }; matchers: unknown; comment: string; createdBy: string };
    const amList = theirs.json as S[];
    const hubList = ours.json as S[];
    expect(hubList.map((s) => s.id)).toEqual(amList.map((s) => ids.get(s.id)));
    expect(hubList.map((s) => [s.status.state, s.comment, s.createdBy, s.matchers])).toEqual(
      amList.map((s) => [s.status.state, s.comment, s.createdBy, s.matchers]),
    );
    expect(hubList.map((s) => s.status.state).sort()).toEqual(['active', 'active', 'expired', 'expired', 'pending']);
  });

  it('answers with the same JSON shape: alerts, groups, silences, one silence, status, receivers', async () => {
    const silenceId = [...ids.keys()][0] ?? '';
    for (const [amPath, hubPath] of [
      ['/api/v2/alerts', '/api/v2/alerts'],
      ['/api/v2/alerts/groups', '/api/v2/alerts/groups'],
      ['/api/v2/silences', '/api/v2/silences'],
      [`/api/v2/silence/${silenceId}`, `/api/v2/silence/${ids.get(silenceId)}`],
      ['/api/v2/status', '/api/v2/status'],
      ['/api/v2/receivers', '/api/v2/receivers'],
    ] as const) {
      const [theirs, ours] = await Promise.all([am.api('GET', amPath), hub.api('GET', hubPath)]);
      expect(ours.status, hubPath).toBe(200);
      expect(shapeOf(ours.json), hubPath).toEqual(shapeOf(theirs.json));
    }
    const [amGroups, hubGroups] = await Promise.all([am.api('GET', '/api/v2/alerts/groups'), hub.api('GET', '/api/v2/alerts/groups')]);
    const members = (groups: unknown) =>
      (groups as { receiver: { name: string }; alerts: { fingerprint: string }[] }[]).map((g) => [g.receiver.name, g.alerts.map((a) => a.fingerprint).sort()]);
    expect(members(hubGroups.json)).toEqual(members(amGroups.json));
  });
});

describe('differential with leases: short leases, resolve_timeout, silences and expiries on a real Alertmanager and on SentryHub', () => {
  /** Alertmanager's `resolve_timeout` and SentryHub's RESOLVE_TIMEOUT, the same: the lease of an alert posted without endsAt. */
  const RESOLVE_TIMEOUT_MS = 16_000;
  /** The short leases: endsAt this far ahead of the first post. */
  const SHORT_MS = 8_000;
  let hub: SentryHub;
  let am: RealAlertmanager;
  let webhook: HttpServer;
  let amqpConnection: amqp.ChannelModel;
  /** Alertmanager's webhook notifications of resolved alerts (send_resolved), by fingerprint: their endsAt. */
  const amResolved = new Map<string, string>();
  /** SentryHub's alert.processed changes, as every notifier receives them. */
  const hubChanges: AlertChange[] = [];
  const ids = new Map<string, string>();
  /** When the sequence starts (set by the test, after both systems are up). */
  let t0 = 0;
  let startsAt = '';
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  const labelsOf = (instance: string) => ({ alertname: 'LeaseDiff', instance, team: instance.replace(/-\d+$/, '') });
  const post = (instance: string, endsAt?: string) => ({
    labels: labelsOf(instance),
    annotations: { summary: `lease of ${instance}` },
    startsAt,
    ...(endsAt === undefined ? {} : { endsAt }),
  });
  /** instance label -> fingerprint, read from Alertmanager's first answer. */
  const fingerprints = new Map<string, string>();
  const instanceOf = (fp: string) => [...fingerprints].find(([, value]) => value === fp)?.[0] ?? `unknown:${fp}`;

  interface Listed {
    fingerprint: string;
    labels: Record<string, string>;
    endsAt: string;
    status: { state: string; silencedBy: string[] };
  }
  /** RFC 3339 to milliseconds (Alertmanager prints nanoseconds, SentryHub milliseconds). */
  const ms = (time: string) => Date.parse(time.replace(/(\.\d{3})\d+/, '$1'));
  const view = (list: unknown, mapIds: (id: string) => string) =>
    Object.fromEntries((list as Listed[]).map((a) => [a.labels['instance'], [a.status.state, a.status.silencedBy.map(mapIds).sort()]]));

  /**
   * Both list exactly `expected` (instance -> state), with the same silencedBy and the same lease
   * ends. Alertmanager filters by endsAt when asked; SentryHub's expiry runs every 500 ms, so its
   * answer is awaited first and Alertmanager's is read right after.
   */
  async function agree(expected: Record<string, 'active' | 'suppressed'>, step: string): Promise<void> {
    const names = Object.keys(expected).sort();
    const ours = await waitFor(
      async () => {
        const { json } = await hub.api('GET', '/api/v2/alerts');
        return (json as Listed[])
          .map((a) => a.labels['instance'])
          .sort()
          .join() === names.join()
          ? (json as Listed[])
          : null;
      },
      10_000,
      `${step}: SentryHub listing ${names.join(', ')}`,
    );
    const theirs = (await am.api('GET', '/api/v2/alerts')).json as Listed[];
    expect(theirs.map((a) => a.labels['instance']).sort(), `${step}: Alertmanager's alerts`).toEqual(names);
    expect(ours.map((a) => a.fingerprint).sort(), step).toEqual(theirs.map((a) => a.fingerprint).sort());
    expect(
      view(ours, (id) => id),
      step,
    ).toEqual(view(theirs, (id) => ids.get(id) ?? `unmapped:${id}`));
    expect(Object.fromEntries(ours.map((a) => [a.labels['instance'], a.status.state])), step).toEqual(expected);
    const theirEnds = new Map(theirs.map((a) => [a.fingerprint, ms(a.endsAt)]));
    for (const alert of ours) {
      const instance = alert.labels['instance'] ?? '';
      const difference = Math.abs(ms(alert.endsAt) - (theirEnds.get(alert.fingerprint) ?? 0));
      // A sender's endsAt is the lease on both, to the millisecond; resolve_timeout counts from each one's own receipt.
      if (instance.startsWith('timeout-')) expect(difference, `${step}: lease of ${instance}`).toBeLessThan(3_000);
      else expect(difference, `${step}: lease of ${instance}`).toBe(0);
    }
  }

  /** The resolutions told to notifiers: Alertmanager's webhook (send_resolved), SentryHub's unsilenced `resolved` changes of type expired. */
  const hubToldResolved = () =>
    new Map(
      hubChanges
        .filter((c) => c.change === 'resolved' && c.instance.resolutionType === 'expired' && !c.group.silenced)
        .map((c) => [c.group.fingerprint, c.instance.endsAt ?? '']),
    );
  async function sameResolutions(instances: string[], step: string): Promise<void> {
    const wanted = instances.map((instance) => fingerprints.get(instance) ?? instance).sort();
    await waitFor(
      () => (wanted.every((fp) => amResolved.has(fp)) ? true : null),
      10_000,
      `${step}: Alertmanager's webhook telling ${instances.join(', ')} resolved`,
    );
    await waitFor(
      () => (wanted.every((fp) => hubToldResolved().has(fp)) ? true : null),
      10_000,
      `${step}: SentryHub's resolved changes of ${instances.join(', ')}`,
    );
    expect([...amResolved.keys()].map(instanceOf).sort(), step).toEqual([...instances].sort());
    expect([...hubToldResolved().keys()].map(instanceOf).sort(), step).toEqual([...instances].sort());
    for (const fp of wanted) {
      const [theirs, ours] = [ms(amResolved.get(fp) ?? ''), ms(hubToldResolved().get(fp) ?? '')];
      // Both end an expired alert at its lease end (SentryHub's own receipt + RESOLVE_TIMEOUT for one posted without endsAt).
      if (instanceOf(fp).startsWith('timeout-')) expect(Math.abs(ours - theirs), instanceOf(fp)).toBeLessThan(3_000);
      else expect(ours, instanceOf(fp)).toBe(theirs);
    }
  }

  beforeAll(async () => {
    requireBinary(ALERTMANAGER, 'prometheus-alertmanager');
    webhook = createHttpServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const payload = JSON.parse(text) as { alerts: { status: string; fingerprint: string; endsAt: string }[] };
        for (const alert of payload.alerts) if (alert.status === 'resolved') amResolved.set(alert.fingerprint, alert.endsAt);
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/`;
    // One aggregation group per alert, flushed every second, resolutions sent: Alertmanager tells each resolution at once.
    const configuration = [
      'global:',
      `  resolve_timeout: ${RESOLVE_TIMEOUT_MS / 1000}s`,
      'route:',
      '  receiver: sentryhub',
      "  group_by: ['...']",
      '  group_wait: 0s',
      '  group_interval: 1s',
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: sentryhub',
      '    webhook_configs:',
      `      - url: ${webhookUrl}`,
      '        send_resolved: true',
      '',
    ].join('\n');
    [hub, am] = await Promise.all([startSentryHub('lease-differential', { resolveTimeoutMs: RESOLVE_TIMEOUT_MS }), startAlertmanager(configuration)]);
    await hub.database.db
      .insertInto('slack_rules')
      .values({ name: 'sentryhub', priority: 0, match_criteria: JSON.stringify({}), slack_channel: '#alerts', message_template: '{{ summary }}' })
      .execute();
    amqpConnection = await amqp.connect(hub.rabbitUrl);
    const channel = await amqpConnection.createChannel();
    await channel.consume(QUEUES.slackNotifierAlertsProcessed, (message) => {
      if (!message) return;
      hubChanges.push(...AlertProcessed.parse(JSON.parse(message.content.toString())).changes);
      channel.ack(message);
    });
  });

  afterAll(async () => {
    await amqpConnection?.close();
    await Promise.all([hub?.close(), am?.stop(), new Promise((resolve) => (webhook ? webhook.close(resolve) : resolve(undefined)))]);
  });

  it('one sequence on both: the same alerts active, suppressed and gone at every step, the same resolutions told', async () => {
    t0 = Date.now();
    startsAt = new Date(t0 - 10 * 60_000).toISOString();
    // 1. Eight alerts, Prometheus-style (startsAt in the past, endsAt a lease ahead) or without endsAt (resolve_timeout).
    const first = [
      post('short-1', at(SHORT_MS)), // expires
      post('short-2', at(SHORT_MS)), // renewed before its lease ends
      post('quiet-1', at(SHORT_MS)), // expires while silenced
      post('quiet-2', at(60_000)), // silenced throughout
      post('refire-1', at(SHORT_MS)), // expires, then sent again
      post('timeout-1'), // resolve_timeout, expires
      post('timeout-2'), // resolve_timeout, re-sent
      post('long-1', at(60_000)),
    ];
    expect((await am.api('POST', '/api/v2/alerts', first)).status).toBe(200);
    await hub.postViaAdmin(first);
    for (const alert of (await am.api('GET', '/api/v2/alerts')).json as Listed[]) fingerprints.set(alert.labels['instance'] ?? '', alert.fingerprint);
    expect(fingerprints.size).toBe(8);
    const silence = {
      matchers: [{ name: 'instance', value: 'quiet-.*', isRegex: true, isEqual: true }],
      startsAt: new Date().toISOString(),
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      createdBy: 'differential@example.com',
      comment: 'quiet ones',
    };
    const [amSilence, hubSilence] = await Promise.all([am.api('POST', '/api/v2/silences', silence), hub.api('POST', '/api/v2/silences', 'editor', silence)]);
    ids.set((amSilence.json as { silenceID: string }).silenceID, (hubSilence.json as { silenceID: string }).silenceID);
    await agree(
      {
        'short-1': 'active',
        'short-2': 'active',
        'quiet-1': 'suppressed',
        'quiet-2': 'suppressed',
        'refire-1': 'active',
        'timeout-1': 'active',
        'timeout-2': 'active',
        'long-1': 'active',
      },
      'before any lease ends',
    );
    // Step 1 must be over before the short leases end, or the steps below test nothing.
    expect(Date.now() - t0, 'the first step took longer than the short leases').toBeLessThan(SHORT_MS - 1_000);

    // 2. short-2 renewed (same startsAt, a later endsAt), as Prometheus re-sends a firing alert.
    const renewal = [post('short-2', at(60_000))];
    expect((await am.api('POST', '/api/v2/alerts', renewal)).status).toBe(200);
    await hub.postViaAdmin(renewal);

    // 3. The short leases pass: short-1, quiet-1 and refire-1 are gone from both; the renewed one stays.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + SHORT_MS + 200 - Date.now())));
    await agree({ 'short-2': 'active', 'quiet-2': 'suppressed', 'timeout-1': 'active', 'timeout-2': 'active', 'long-1': 'active' }, 'after the short leases');
    // Told as resolved by both, at the lease end; quiet-1 by neither (silenced).
    await sameResolutions(['short-1', 'refire-1'], 'after the short leases');
    expect(hubChanges.some((c) => c.change === 'resolved' && c.group.fingerprint === fingerprints.get('quiet-1') && c.group.silenced)).toBe(true);

    // 4. refire-1 sent again with a new lease: active again on both; timeout-2 re-sent without endsAt: a fresh resolve_timeout.
    const again = [post('refire-1', new Date(Date.now() + 60_000).toISOString()), post('timeout-2')];
    expect((await am.api('POST', '/api/v2/alerts', again)).status).toBe(200);
    await hub.postViaAdmin(again);
    expect(Date.now() - t0, 'timeout-2 was re-sent after its resolve_timeout had passed').toBeLessThan(RESOLVE_TIMEOUT_MS - 2_000);
    await agree(
      { 'short-2': 'active', 'quiet-2': 'suppressed', 'refire-1': 'active', 'timeout-1': 'active', 'timeout-2': 'active', 'long-1': 'active' },
      'refire-1 sent again',
    );

    // 5. resolve_timeout passes: timeout-1 is gone from both, timeout-2 (re-sent) stays.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + RESOLVE_TIMEOUT_MS + 500 - Date.now())));
    await agree({ 'short-2': 'active', 'quiet-2': 'suppressed', 'refire-1': 'active', 'timeout-2': 'active', 'long-1': 'active' }, 'after resolve_timeout');
    await sameResolutions(['short-1', 'refire-1', 'timeout-1'], 'after resolve_timeout');

    // SentryHub's record of it: the episodes that stayed resolved ended `expired`; refire-1's was re-opened.
    const episodes = await hub.database.db
      .selectFrom('alert_instances')
      .innerJoin('alert_groups', 'alert_groups.id', 'alert_instances.group_id')
      .select(['alert_groups.labels', 'alert_instances.status', 'alert_instances.resolution_type'])
      .execute();
    const byInstance = Object.fromEntries(episodes.map((e) => [(e.labels as Record<string, string>)['instance'], [e.status, e.resolution_type]]));
    expect(byInstance).toEqual({
      'short-1': ['resolved', 'expired'],
      'short-2': ['firing', null],
      'quiet-1': ['resolved', 'expired'],
      'quiet-2': ['firing', null],
      'refire-1': ['firing', null],
      'timeout-1': ['resolved', 'expired'],
      'timeout-2': ['firing', null],
      'long-1': ['firing', null],
    });
    expect(hubChanges.filter((c) => c.change === 'refired').map((c) => instanceOf(c.group.fingerprint))).toEqual(['refire-1']);
  });
});

describe("Grafana's Alertmanager data source (implementation Prometheus): the calls it makes", () => {
  let hub: SentryHub;
  /** Grafana sends the data source's custom header, `Authorization: Bearer <key>`, on every call. */
  const grafana = async (method: string, path: string, role: 'viewer' | 'editor' = 'viewer', body?: unknown) => hub.api(method, path, role, body);

  beforeAll(async () => {
    hub = await startSentryHub('grafana');
    await hub.database.db
      .insertInto('slack_rules')
      .values({ name: 'ops', priority: 0, match_criteria: JSON.stringify({}), slack_channel: '#ops', message_template: '{{ summary }}' })
      .execute();
    await hub.postAlerts([
      { labels: { alertname: 'DiskFull', instance: 'db-1', severity: 'critical' }, annotations: { summary: 'disk' }, startsAt: '2026-11-26T10:00:00Z' },
      { labels: { alertname: 'HighCPU', instance: 'web-1', severity: 'warning' }, annotations: { summary: 'cpu' }, startsAt: '2026-11-26T10:00:00Z' },
    ]);
  });

  afterAll(async () => {
    await hub?.close();
  });

  it('health check: /alertmanager/api/v2/status is not there (not Mimir), /api/v2/status is, with a configuration that parses', async () => {
    expect((await grafana('GET', '/alertmanager/api/v2/status')).status).toBe(404);
    const status = await grafana('GET', '/api/v2/status');
    expect(status.status).toBe(200);
    const { config, cluster, versionInfo } = status.json as { config: { original: string }; cluster: { status: string }; versionInfo: { version: string } };
    expect(cluster.status).toBe('disabled');
    expect(versionInfo.version).toMatch(/^sentryhub-/);
    // Contact points and notification policies are read from it (read-only for this implementation).
    expect(parseYaml(config.original)).toEqual({
      route: { receiver: 'sentryhub', routes: [{ receiver: 'ops', continue: true }] },
      receivers: [{ name: 'sentryhub' }, { name: 'ops' }],
    });
  });

  it('alert list and groups, with the filters Grafana sends', async () => {
    const groups = await grafana('GET', '/api/v2/alerts/groups?silenced=false&inhibited=false&active=true');
    expect(groups.status).toBe(200);
    expect((groups.json as { receiver: { name: string }; alerts: unknown[] }[]).map((g) => [g.receiver.name, g.alerts.length])).toEqual([['ops', 2]]);
    const filtered = await grafana('GET', `/api/v2/alerts?filter=${encodeURIComponent('severity="critical"')}&silenced=true&inhibited=true&active=true`);
    expect((filtered.json as { labels: Record<string, string> }[]).map((a) => a.labels['alertname'])).toEqual(['DiskFull']);
  });

  it('silences: create (editor key), read, list, expire; a viewer key is refused the create', async () => {
    const body = {
      matchers: [{ name: 'alertname', value: 'High.*', isRegex: true, isEqual: true }],
      startsAt: new Date().toISOString(),
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      createdBy: 'grafana-user',
      comment: 'from Grafana',
    };
    expect((await grafana('POST', '/api/v2/silences', 'viewer', body)).status).toBe(403);
    const created = await grafana('POST', '/api/v2/silences', 'editor', body);
    expect(created.status).toBe(200);
    const id = (created.json as { silenceID: string }).silenceID;
    expect(((await grafana('GET', `/api/v2/silence/${id}`)).json as { comment: string }).comment).toBe('from Grafana');
    const suppressed = await grafana('GET', '/api/v2/alerts?active=false');
    expect(
      (suppressed.json as { labels: Record<string, string>; status: { silencedBy: string[] } }[]).map((a) => [a.labels['alertname'], a.status.silencedBy]),
    ).toEqual([['HighCPU', [id]]]);
    expect((await grafana('DELETE', `/api/v2/silence/${id}`, 'editor')).status).toBe(200);
    expect(((await grafana('GET', '/api/v2/silences')).json as { id: string; status: { state: string } }[]).map((s) => [s.id, s.status.state])).toEqual([
      [id, 'expired'],
    ]);
    expect((await grafana('GET', '/api/v2/silence/not-a-uuid')).status).toBe(422);
    expect((await grafana('GET', '/api/v2/silence/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});

describe('differential: inhibit_rules and continue on a real Alertmanager and on SentryHub (inhibitedBy, suppressed, receivers)', () => {
  let hub: SentryHub;
  let am: RealAlertmanager;
  /**
   * The same routing on both: Alertmanager's child routes in order, SentryHub's rules by
   * priority (one kind, so that `continue` ends or goes on through the same list); the last
   * route and the lowest rule catch everything that reaches them. One inhibit rule: a critical
   * alert (a regex source matcher) holds back the warnings of its cluster.
   */
  const AM_CONFIG = [
    'route:',
    '  receiver: sentryhub',
    '  group_wait: 1s',
    '  routes:',
    '    - receiver: web-team',
    '      matchers: [\'team="web"\']',
    '      continue: true',
    '    - receiver: pager',
    '      matchers: [\'severity="critical"\']',
    '    - receiver: sentryhub',
    'receivers:',
    '  - name: sentryhub',
    '  - name: web-team',
    '  - name: pager',
    'inhibit_rules:',
    '  - source_matchers: [\'severity=~"critical|page"\']',
    '    target_matchers: [\'severity="warning"\']',
    '    equal: [cluster]',
    '',
  ].join('\n');
  const startsAt = new Date(Date.now() - 10 * 60_000).toISOString();
  const labels = {
    source: { alertname: 'NodeDown', instance: 'n-1', severity: 'critical', cluster: 'a', team: 'web' },
    webA: { alertname: 'HighCPU', instance: 'w-1', severity: 'warning', cluster: 'a', team: 'web' },
    webB: { alertname: 'HighCPU', instance: 'w-2', severity: 'warning', cluster: 'b', team: 'web' },
    diskA: { alertname: 'DiskFull', instance: 'd-1', severity: 'warning', cluster: 'a', team: 'storage' },
    infoA: { alertname: 'Latency', instance: 'a-1', severity: 'info', cluster: 'a', team: 'api' },
  };
  const posted = (set: Record<string, string>, endsAt?: string) => ({
    labels: set,
    annotations: { summary: `${set['alertname']} on ${set['instance']}` },
    startsAt,
    ...(endsAt === undefined ? {} : { endsAt }),
  });

  interface Listed {
    fingerprint: string;
    labels: Record<string, string>;
    receivers: { name: string }[];
    status: { state: string; silencedBy: string[]; inhibitedBy: string[] };
  }
  /** instance -> [state, inhibitedBy as instances, receivers]. */
  const view = (list: unknown) => {
    const alerts = list as Listed[];
    const instanceOf = (fp: string) => alerts.find((a) => a.fingerprint === fp)?.labels['instance'] ?? `unlisted:${fp}`;
    return Object.fromEntries(
      alerts.map((a) => [a.labels['instance'], [a.status.state, a.status.inhibitedBy.map(instanceOf), a.receivers.map((r) => r.name)]]),
    );
  };
  const fingerprintOf = (list: unknown, instance: string) => (list as Listed[]).find((a) => a.labels['instance'] === instance)?.fingerprint;

  beforeAll(async () => {
    requireBinary(ALERTMANAGER, 'prometheus-alertmanager');
    [hub, am] = await Promise.all([startSentryHub('inhibition'), startAlertmanager(AM_CONFIG)]);
    const rule = (name: string, priority: number, criteria: object, more: { continue?: boolean } = {}) => ({
      name,
      priority,
      match_criteria: JSON.stringify(criteria),
      slack_channel: `#${name}`,
      message_template: '{{ summary }}',
      ...more,
    });
    await hub.database.db
      .insertInto('slack_rules')
      .values([rule('web-team', 30, { team: 'web' }, { continue: true }), rule('pager', 20, { severity: 'critical' }), rule('sentryhub', 0, {})])
      .execute();
    await hub.database.db
      .insertInto('inhibit_rules')
      .values({
        name: 'critical holds back warnings',
        source_matchers: JSON.stringify([{ name: 'severity', value: 'critical|page', isRegex: true, isEqual: true }]),
        target_matchers: JSON.stringify([{ name: 'severity', value: 'warning', isRegex: false, isEqual: true }]),
        equal: ['cluster'],
        created_by: 'test',
      })
      .execute();
  });

  afterAll(async () => {
    await Promise.all([hub?.close(), am?.stop()]);
  });

  const expectedFiring = {
    'n-1': ['active', [], ['web-team', 'pager']],
    'w-1': ['suppressed', ['n-1'], ['web-team', 'sentryhub']],
    'w-2': ['active', [], ['web-team', 'sentryhub']],
    'd-1': ['suppressed', ['n-1'], ['sentryhub']],
    'a-1': ['active', [], ['sentryhub']],
  };

  it("a firing source: its cluster's warnings report inhibitedBy [its fingerprint] and suppressed, on both; receivers follow continue", async () => {
    const all = Object.values(labels).map((set) => posted(set));
    expect((await am.api('POST', '/api/v2/alerts', all)).status).toBe(200);
    await hub.postAlerts(all);
    // Alertmanager's inhibitor sees the source once its subscription took it in.
    const theirs = await waitFor(
      async () => {
        const answer = await am.api('GET', '/api/v2/alerts');
        return isDeepStrictEqual(view(answer.json), expectedFiring) ? answer.json : null;
      },
      20_000,
      'Alertmanager inhibits the warnings of cluster a',
    );
    const ours = (await hub.api('GET', '/api/v2/alerts')).json;
    expect(view(ours)).toEqual(expectedFiring);
    // The very fingerprints, not only the same instances.
    const source = fingerprintOf(ours, 'n-1');
    expect(source).toBe(fingerprintOf(theirs, 'n-1'));
    for (const instance of ['w-1', 'd-1'])
      expect((ours as Listed[]).find((a) => a.labels['instance'] === instance)?.status).toEqual({ state: 'suppressed', silencedBy: [], inhibitedBy: [source] });
  });

  it('filters the same: inhibited=false, active=false, matchers', async () => {
    for (const query of [
      '?inhibited=false',
      '?active=false',
      '?inhibited=false&active=false',
      '?filter=cluster%3Da&inhibited=false',
      '?receiver=pager',
      '?receiver=sentryhub&inhibited=false',
    ]) {
      const [theirs, ours] = await Promise.all([am.api('GET', `/api/v2/alerts${query}`), hub.api('GET', `/api/v2/alerts${query}`)]);
      expect(ours.status, query).toBe(200);
      expect(Object.keys(view(ours.json)).sort(), query).toEqual(Object.keys(view(theirs.json)).sort());
    }
    expect(Object.keys(view((await hub.api('GET', '/api/v2/alerts?inhibited=false')).json)).sort()).toEqual(['a-1', 'n-1', 'w-2']);
  });

  it('groups the same: one group per receiver, the alerts that continue reached', async () => {
    const members = (groups: unknown) =>
      (groups as { receiver: { name: string }; alerts: Listed[] }[])
        .map((g) => [g.receiver.name, g.alerts.map((a) => a.labels['instance']).sort()] as const)
        .sort(([a], [b]) => (a < b ? -1 : 1));
    for (const query of ['', '?inhibited=false']) {
      const [theirs, ours] = await Promise.all([am.api('GET', `/api/v2/alerts/groups${query}`), hub.api('GET', `/api/v2/alerts/groups${query}`)]);
      expect(members(ours.json), query).toEqual(members(theirs.json));
    }
    const groups = members((await hub.api('GET', '/api/v2/alerts/groups')).json);
    expect(groups).toEqual([
      ['pager', ['n-1']],
      ['sentryhub', ['a-1', 'd-1', 'w-1', 'w-2']],
      ['web-team', ['n-1', 'w-1', 'w-2']],
    ]);
  });

  it('the source resolves: the warnings are active again, with inhibitedBy [], on both', async () => {
    const resolved = [posted(labels.source, new Date(Date.now() - 1_000).toISOString())];
    expect((await am.api('POST', '/api/v2/alerts', resolved)).status).toBe(200);
    await hub.postAlerts(resolved);
    const expected = {
      'w-1': ['active', [], ['web-team', 'sentryhub']],
      'w-2': ['active', [], ['web-team', 'sentryhub']],
      'd-1': ['active', [], ['sentryhub']],
      'a-1': ['active', [], ['sentryhub']],
    };
    await waitFor(
      async () => (isDeepStrictEqual(view((await am.api('GET', '/api/v2/alerts')).json), expected) ? true : null),
      20_000,
      'Alertmanager lifts the inhibition',
    );
    await waitFor(
      async () => (isDeepStrictEqual(view((await hub.api('GET', '/api/v2/alerts')).json), expected) ? true : null),
      20_000,
      'SentryHub lifts the inhibition',
    );
    expect(view((await hub.api('GET', '/api/v2/alerts?inhibited=false')).json)).toEqual(expected);
  });

  it('receivers: the same names as Alertmanager; a webhook rule is a receiver too, and of the alerts it applies to', async () => {
    const names = (list: unknown) => (list as { name: string }[]).map((r) => r.name).sort();
    const [theirs, ours] = await Promise.all([am.api('GET', '/api/v2/receivers'), hub.api('GET', '/api/v2/receivers')]);
    expect(names(ours.json)).toEqual(names(theirs.json));
    await hub.database.db
      .insertInto('webhook_rules')
      .values({ name: 'storage-hook', priority: 5, match_criteria: JSON.stringify({ team: 'storage' }), receiver: 'ops-hook', preset: 'alertmanager' })
      .execute();
    expect(names((await hub.api('GET', '/api/v2/receivers')).json)).toEqual(['pager', 'sentryhub', 'storage-hook', 'web-team']);
    // Each kind is routed on its own: the Slack catch-all and the webhook rule both apply, by priority.
    expect(view((await hub.api('GET', '/api/v2/alerts')).json)['d-1']).toEqual(['active', [], ['storage-hook', 'sentryhub']]);
  });
});
