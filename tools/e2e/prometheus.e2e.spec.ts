import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlertProcessed, QUEUES, type AlertChange } from '@sentryhub/contracts';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startStack, type RunningService } from './services';

const TOKEN = 'prometheus-e2e-token';
/** Prometheus sends a firing alert with endsAt = now + 4 x max(resend delay, evaluation interval): 4 s here. */
const PROMETHEUS_LEASE_MS = 4_000;
const RESOLVE_TIMEOUT_MS = 3_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The binary of a Debian package, or an error naming the package to install. */
function binary(name: string, debianPackage: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path)
    throw new Error(`${name} is not installed: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}, or npm run doctor -- --fix)`);
  return path;
}

interface EpisodeRow {
  alertname: string;
  group_status: string;
  status: string;
  starts_at: Date;
  ends_at: Date | null;
  lease_ends_at: Date | null;
  resolution_type: string | null;
}

/**
 * A real Prometheus (Debian's package) sends straight to the gateway, as it would to an
 * Alertmanager (`alerting.alertmanagers`, API v2, with the intake token), with rules evaluated
 * every second and a resend delay of 1 s, so that each firing alert carries a 4 s lease. The
 * gateway and two alert-processor replicas are the built services, as real processes. One rule always
 * fires (`vector(1) > 0`); another follows a metric of a tiny HTTP server this test scrapes and
 * flips. Every `alert.processed` event is read from the slack-notifier's queue.
 */
describe('end to end: a real Prometheus sending to the gateway, and leases', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const services: RunningService[] = [];
  let gatewayUrl: string;
  let prometheus: ChildProcess | undefined;
  let prometheusOutput: string[] = [];
  let flagServer: Server | undefined;
  let flag = 1;
  let workDir: string;
  const suite = `lease-${randomBytes(3).toString('hex')}`;
  const changes: AlertChange[] = [];

  const episodes = async (alertname: string) =>
    (
      await sql<EpisodeRow>`
        select g.name as alertname, g.current_status as group_status, i.status, i.starts_at, i.ends_at, i.lease_ends_at, i.resolution_type
        from alert_groups g join alert_instances i on i.group_id = g.id
        where g.name = ${alertname} and g.labels->>'suite' = ${suite}
        order by i.starts_at`.execute(database.db)
    ).rows;
  const changesOf = (alertname: string) =>
    changes.filter((change) => change.group.name === alertname && change.group.labels['suite'] === suite).map((change) => change.change);
  const one = async (alertname: string): Promise<EpisodeRow | null> => {
    const rows = await episodes(alertname);
    if (rows.length > 1) throw new Error(`${alertname}: ${rows.length} episodes, expected one: ${JSON.stringify(rows)}`);
    return rows[0] ?? null;
  };

  async function startPrometheus(gatewayPort: number, flagPort: number): Promise<void> {
    const executable = binary('prometheus', 'prometheus');
    const labels = `{ severity: warning, suite: ${suite} }`;
    writeFileSync(
      join(workDir, 'rules.yml'),
      [
        'groups:',
        '  - name: sentryhub-leases',
        '    interval: 1s',
        '    rules:',
        '      - alert: PromAlwaysFiring',
        '        expr: vector(1) > 0',
        `        labels: ${labels}`,
        '        annotations: { summary: "always firing" }',
        '      - alert: PromFlipFiring',
        '        expr: lease_flag == 1',
        `        labels: ${labels}`,
        '        annotations: { summary: "firing while the flag is 1" }',
      ].join('\n'),
    );
    writeFileSync(
      join(workDir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'rule_files: [rules.yml]',
        'scrape_configs:',
        '  - job_name: flag',
        `    static_configs: [{ targets: ['127.0.0.1:${flagPort}'] }]`,
        'alerting:',
        '  alertmanagers:',
        '    - api_version: v2',
        `      authorization: { credentials: ${TOKEN} }`,
        `      static_configs: [{ targets: ['127.0.0.1:${gatewayPort}'] }]`,
      ].join('\n'),
    );
    const port = await freePort();
    prometheusOutput = [];
    prometheus = spawn(
      executable,
      [
        `--config.file=${join(workDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--rules.alert.resend-delay=1s',
        '--rules.alert.for-grace-period=1s',
        '--log.level=warn',
      ],
      { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout?.on('data', (chunk: Buffer) => prometheusOutput.push(chunk.toString()));
    prometheus.stderr?.on('data', (chunk: Buffer) => prometheusOutput.push(chunk.toString()));
    await waitFor(
      async () => {
        if (prometheus?.exitCode !== null) throw new Error(`prometheus exited with ${prometheus?.exitCode}:\n${prometheusOutput.join('')}`);
        const ready = await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => null);
        return ready?.status === 200 ? true : null;
      },
      30_000,
      'prometheus to be ready',
    );
  }

  beforeAll(async () => {
    binary('prometheus', 'prometheus');
    workDir = mkdtempSync(join(tmpdir(), 'sentryhub-prometheus-'));
    [database, vhost] = await Promise.all([createTestDatabase('e2e_prometheus'), createTestVhost('e2e-prometheus')]);
    // Two alert-processor replicas: both consume alerts and both run the lease expiry.
    const stack = await startStack(['alert-processor', 'alert-processor'], {
      RABBITMQ_URL: vhost.url,
      DATABASE_URL: database.url,
      WEBHOOK_TOKENS: TOKEN,
      RESOLVE_TIMEOUT: `${RESOLVE_TIMEOUT_MS / 1000}s`,
      LEASE_EXPIRY_INTERVAL_MS: '200',
    });
    services.push(...stack.services);
    gatewayUrl = stack.gatewayUrl;
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    await channel.consume(QUEUES.slackNotifierAlertsProcessed, (message) => {
      if (!message) return;
      changes.push(...AlertProcessed.parse(JSON.parse(message.content.toString())).changes);
      channel.ack(message);
    });
    flagServer = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      response.end(`# TYPE lease_flag gauge\nlease_flag ${flag}\n`);
    });
    await new Promise<void>((resolve) => flagServer?.listen(0, '127.0.0.1', resolve));
    const address = flagServer.address();
    await startPrometheus(Number(new URL(gatewayUrl).port), typeof address === 'object' && address ? address.port : 0);
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) prometheus.kill('SIGKILL');
    await connection?.close();
    await new Promise((resolve) => (flagServer ? flagServer.close(resolve) : resolve(undefined)));
    await Promise.all(services.map((service) => service.stop()));
    await Promise.all([database?.destroy(), vhost?.destroy()]);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("stores Prometheus's firing alerts with its lease (endsAt), renewed by every re-send without an event", async () => {
    const [always, flip] = await waitFor(
      async () => {
        const rows = [await one('PromAlwaysFiring'), await one('PromFlipFiring')];
        return rows.every((row) => row?.status === 'firing' && row.lease_ends_at) ? rows : null;
      },
      30_000,
      'both Prometheus alerts firing in SentryHub',
    );
    for (const row of [always, flip]) {
      // The lease is Prometheus's endsAt: a few seconds ahead, never more than its 4 s past a send.
      expect(row?.lease_ends_at?.getTime()).toBeGreaterThan(Date.now() - 1_000);
      expect(row?.lease_ends_at?.getTime()).toBeLessThanOrEqual(Date.now() + PROMETHEUS_LEASE_MS + 500);
    }
    const first = always?.lease_ends_at?.getTime() ?? 0;
    await waitFor(
      async () => ((await one('PromAlwaysFiring'))?.lease_ends_at?.getTime() ?? 0) > first + 1_500 || null,
      15_000,
      'the lease renewed by re-sends',
    );
    await sleep(PROMETHEUS_LEASE_MS);
    // Re-sent every second for longer than a lease: still the one episode, one event.
    expect(await one('PromAlwaysFiring')).toMatchObject({ status: 'firing', starts_at: always?.starts_at, ends_at: null, resolution_type: null });
    expect(changesOf('PromAlwaysFiring')).toEqual(['created']);
  });

  it('resolves an alert whose rule stops firing (Prometheus sends its resolution)', async () => {
    flag = 0;
    const resolved = await waitFor(
      async () => {
        const row = await one('PromFlipFiring');
        return row?.status === 'resolved' ? row : null;
      },
      20_000,
      'PromFlipFiring resolved',
    );
    expect(resolved).toMatchObject({ group_status: 'resolved', resolution_type: 'normal' });
    await waitFor(() => (changesOf('PromFlipFiring').includes('resolved') ? true : null), 10_000, 'the resolved event');
    expect(changesOf('PromFlipFiring')).toEqual(['created', 'resolved']);
    expect((await one('PromAlwaysFiring'))?.status).toBe('firing');
  });

  it('after Prometheus is killed, its still-firing alert resolves (expired) once its lease has passed, and not before', async () => {
    prometheus?.kill('SIGKILL');
    await new Promise((resolve) => (prometheus?.exitCode !== null ? resolve(undefined) : prometheus.once('exit', resolve)));
    const killedAt = Date.now();
    // A send in flight at the kill may still land: take the lease once it no longer moves.
    await sleep(500);
    const lease = (await one('PromAlwaysFiring'))?.lease_ends_at;
    if (!lease) throw new Error('PromAlwaysFiring has no lease');
    expect(lease.getTime()).toBeGreaterThan(killedAt);
    expect(lease.getTime()).toBeLessThanOrEqual(killedAt + PROMETHEUS_LEASE_MS + 500);

    // Not before: firing at every look until just before the lease end.
    let looks = 0;
    while (Date.now() < lease.getTime() - 300) {
      expect(await one('PromAlwaysFiring')).toMatchObject({ status: 'firing', lease_ends_at: lease });
      looks += 1;
      await sleep(100);
    }
    expect(looks).toBeGreaterThan(5);

    // Once it has passed: resolved within about a second, ended at the lease end, type expired.
    const expired = await waitFor(
      async () => {
        const row = await one('PromAlwaysFiring');
        return row?.status === 'resolved' ? row : null;
      },
      10_000,
      'PromAlwaysFiring expired',
    );
    expect(Date.now()).toBeGreaterThanOrEqual(lease.getTime());
    expect(Date.now()).toBeLessThan(lease.getTime() + 3_000);
    expect(expired).toMatchObject({ group_status: 'resolved', resolution_type: 'expired', ends_at: lease });
    await waitFor(() => (changesOf('PromAlwaysFiring').includes('resolved') ? true : null), 10_000, 'the resolved event');
    const event = changes.find((change) => change.group.name === 'PromAlwaysFiring' && change.change === 'resolved');
    expect(event?.instance).toMatchObject({ status: 'resolved', resolutionType: 'expired', endsAt: lease.toISOString() });
    await sleep(1_000);
    expect(changesOf('PromAlwaysFiring')).toEqual(['created', 'resolved']);
  });

  it('the gateway leases an API v2 alert without endsAt for RESOLVE_TIMEOUT; a webhook alert never expires; two replicas expire each once', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${gatewayUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      });
    const labels = (alertname: string) => ({ alertname, severity: 'warning', suite });
    const many = Array.from({ length: 60 }, (_, index) => `ApiMany${String(index).padStart(2, '0')}`);
    const sentAt = Date.now();
    expect((await post('/api/v2/alerts', [{ labels: labels('ApiNoEndsAt') }, ...many.map((name) => ({ labels: labels(name) }))])).status).toBe(202);
    const webhookAlert = {
      status: 'firing',
      labels: labels('WebhookFiring'),
      annotations: {},
      startsAt: new Date().toISOString(),
      endsAt: '0001-01-01T00:00:00Z',
    };
    expect(
      (await post('/api/v1/webhooks/alertmanager', { version: '4', groupKey: 'k', status: 'firing', receiver: 'sentryhub', alerts: [webhookAlert] })).status,
    ).toBe(202);
    const leased = await waitFor(
      async () => {
        const row = await one('ApiNoEndsAt');
        return row?.lease_ends_at ? row : null;
      },
      10_000,
      'the API alert stored',
    );
    expect(leased.lease_ends_at?.getTime()).toBeGreaterThanOrEqual(sentAt + RESOLVE_TIMEOUT_MS);
    expect(leased.lease_ends_at?.getTime()).toBeLessThanOrEqual(Date.now() + RESOLVE_TIMEOUT_MS);
    const expired = await waitFor(
      async () => {
        const row = await one('ApiNoEndsAt');
        return row?.status === 'resolved' ? row : null;
      },
      15_000,
      'the API alert expired',
    );
    expect(expired).toMatchObject({ resolution_type: 'expired', ends_at: leased.lease_ends_at });
    expect(await one('WebhookFiring')).toMatchObject({ status: 'firing', lease_ends_at: null });
    // The 60 others expired with it, each once, whichever replica took it.
    await waitFor(() => (many.every((name) => changesOf(name).includes('resolved')) ? true : null), 15_000, 'every API alert expired');
    await sleep(1_000);
    for (const name of many) expect(changesOf(name), name).toEqual(['created', 'resolved']);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from alert_instances i join alert_groups g on g.id = i.group_id where g.labels->>'suite' = ${suite} and g.name like 'ApiMany%' and i.resolution_type = 'expired'`.execute(
      database.db,
    );
    expect(rows[0]?.n).toBe(many.length);
  });
});
