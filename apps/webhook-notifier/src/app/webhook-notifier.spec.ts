import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AlertmanagerWebhook,
  deadLetterQueueName,
  EXCHANGES,
  HEADERS,
  QUEUES,
  ROUTING_KEYS,
  type AlertChange,
  type AlertProcessed,
  AlertProcessed as AlertProcessedSchema,
} from '@sentryhub/contracts';
import { ruleRepository, type Notification } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, createWebhookClient, parseWebhookReceivers, Registry, resolveWebhookReceivers, type WebhookClient } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';

/**
 * The webhook-notifier's handler on a real RabbitMQ vhost and PostgreSQL database, posting to
 * local HTTP servers that stand in for PagerDuty, Teams, Opsgenie and an Alertmanager webhook
 * receiver. Two handlers (two "replicas", each with its own connection, client and rule cache)
 * consume the same queue throughout.
 */

const RETRY_DELAYS_MS = [150, 300, 450];
const STARTS_AT = '2026-11-26T08:00:00.000Z';
const ENDS_AT = '2026-11-26T09:00:00.000Z';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** One HTTP server for every receiver: the first path segment names the receiver's "endpoint". */
let server: Server;
let baseUrl: string;
const received: Received[] = [];
/** Per endpoint: the status (and headers) of the next answers; 200 when the list is empty. */
const answers = new Map<string, { status: number; headers?: Record<string, string> }[]>();
/** Per endpoint: how long the server waits before answering (a window for a duplicate to race). */
const slowness = new Map<string, number>();

let database: TestDatabase;
let vhost: TestVhost;
const replicas: { messaging: Messaging; subscription: Subscription; client: WebhookClient }[] = [];
const ENV = {
  PD_ROUTING_KEY: 'R0UTING-KEY-0123456789abcdef',
  OG_AUTH: 'GenieKey 11111111-2222-3333-4444-555555555555',
  TEAMS_URL: '',
  HOOK_TOKEN: 'Bearer hook-token-abcdef',
  HOOK_HMAC: 'hmac-secret-0123456789',
};

const endpointOf = (path: string) => path.split('/')[1] ?? '';
const requestsTo = (endpoint: string) => received.filter((request) => endpointOf(request.path) === endpoint);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const answer = answers.get(endpointOf(path))?.shift() ?? { status: 200 };
      setTimeout(
        () => {
          response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
          response.end(answer.status < 300 ? '{"status":"success"}' : '{"error":"nope"}');
        },
        slowness.get(endpointOf(path)) ?? 0,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ENV.TEAMS_URL = `${baseUrl}/teams/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRET-SIG`;

  // The receivers file as an operator writes it (YAML), with every value from the environment.
  const receivers = resolveWebhookReceivers(
    parseWebhookReceivers(`
pagerduty:
  url: ${baseUrl}/pagerduty/v2/enqueue
  params:
    routingKey: { env: PD_ROUTING_KEY }
teams:
  url: { env: TEAMS_URL }
opsgenie:
  url: ${baseUrl}/opsgenie/v2/alerts
  headers:
    Authorization: { env: OG_AUTH }
  resolvedPath: /opsgenie/v2/alerts/{dedup_key}/close?identifierType=alias
hook:
  url: ${baseUrl}/hook/alertmanager
  headers:
    Authorization: { env: HOOK_TOKEN }
  hmacSecretEnv: HOOK_HMAC
  timeoutMs: 2000
failing:
  url: ${baseUrl}/failing
limited:
  url: ${baseUrl}/limited
slow:
  url: ${baseUrl}/slow
`),
    ENV,
  );

  [database, vhost] = await Promise.all([createTestDatabase('webhook_notifier'), createTestVhost('webhook-notifier')]);
  const logger = createLogger('webhook-notifier-test', (process.env['TEST_LOG_LEVEL'] ?? 'silent') as 'silent');
  for (let replica = 0; replica < 2; replica++) {
    const messaging = await connectMessaging(
      buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.webhookNotifierAlertsProcessed], retryDelayMs: 200, retryDelaysMs: RETRY_DELAYS_MS }),
      { logger, retryDelaysMs: RETRY_DELAYS_MS },
    );
    const client = createWebhookClient(receivers);
    const handler = alertProcessedHandler({
      db: database.db,
      rules: ruleRepository(database.db, { cacheMs: 0 }),
      client,
      receivers,
      registry: new Registry(),
      externalUrl: 'http://sentryhub.example:8081',
      logger,
    });
    const subscription = await subscribe(messaging, {
      queue: QUEUES.webhookNotifierAlertsProcessed,
      parse: (json) => AlertProcessedSchema.safeParse(json),
      logger,
      handler,
    });
    replicas.push({ messaging, subscription, client });
  }
});

afterAll(async () => {
  for (const replica of replicas) {
    await replica.subscription.cancel();
    await replica.messaging.shutdown();
    await replica.client.close();
  }
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await database?.destroy();
  await vhost?.destroy();
});

// ---- helpers -------------------------------------------------------------------------------

async function insertRule(rule: {
  receiver: string;
  preset?: string;
  bodyTemplate?: string;
  labels: Record<string, string>;
  sendResolved?: boolean;
}): Promise<number> {
  const row = await database.db
    .insertInto('webhook_rules')
    .values({
      name: `rule-${randomBytes(4).toString('hex')}`,
      match_criteria: JSON.stringify(rule.labels),
      receiver: rule.receiver,
      preset: rule.preset ?? null,
      body_template: rule.bodyTemplate ?? null,
      send_resolved: rule.sendResolved ?? true,
      updated_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

interface Seeded {
  groupId: number;
  instanceId: number;
  labels: Record<string, string>;
  fingerprint: string;
}

async function seedAlert(labels: Record<string, string>): Promise<Seeded> {
  const fingerprint = randomBytes(8).toString('hex');
  const group = await database.db
    .insertInto('alert_groups')
    .values({
      fingerprint,
      name: labels['alertname'] ?? 'Unknown',
      labels: JSON.stringify(labels),
      severity: 'critical',
      instance: labels['instance'] ?? null,
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
    .values({
      group_id: group.id,
      status: 'firing',
      starts_at: STARTS_AT,
      annotations: JSON.stringify({ summary: 'disk "sda" almost full', description: 'line one\nline two' }),
      generator_url: 'http://prometheus.example/graph',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { groupId: group.id, instanceId: instance.id, labels, fingerprint };
}

function changeOf(seeded: Seeded, status: 'firing' | 'resolved'): AlertChange {
  return {
    change: status === 'firing' ? 'created' : 'resolved',
    group: {
      id: seeded.groupId,
      fingerprint: seeded.fingerprint,
      name: seeded.labels['alertname'] ?? 'Unknown',
      labels: seeded.labels,
      severity: 'critical',
      instance: seeded.labels['instance'] ?? null,
      source: 'webhook',
      status,
      firingCount: 1,
      silenced: false,
      silencedUntil: null,
      acknowledged: false,
    },
    instance: {
      id: seeded.instanceId,
      status,
      startsAt: STARTS_AT,
      endsAt: status === 'resolved' ? ENDS_AT : null,
      annotations: { summary: 'disk "sda" almost full', description: 'line one\nline two' },
      generatorURL: 'http://prometheus.example/graph',
      resolutionType: status === 'resolved' ? 'normal' : null,
    },
  };
}

async function publish(changes: AlertChange[], copies = 1): Promise<AlertProcessed> {
  const status = changes[0]?.instance.status ?? 'firing';
  const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status, changes };
  for (let copy = 0; copy < copies; copy++)
    await replicas[copy % replicas.length]?.messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed(status), event, {
      correlationId: `corr-${event.id}`,
    });
  return event;
}

const rowsOf = (instanceId: number): Promise<Notification[]> =>
  database.db.selectFrom('notifications').selectAll().where('instance_id', '=', instanceId).orderBy('id').execute();

const settledRow = (instanceId: number, kind: 'firing' | 'resolved', status: Notification['status'] = 'sent') =>
  waitFor(
    async () => (await rowsOf(instanceId)).find((row) => row.kind === kind && row.status === status),
    20_000,
    `a ${status} ${kind} row of instance ${instanceId}`,
  );

const unique = () => `t${randomBytes(3).toString('hex')}`;

// ---- tests ---------------------------------------------------------------------------------

describe('webhook-notifier: presets through RabbitMQ, PostgreSQL and local receivers', () => {
  it('PagerDuty Events API v2: trigger then resolve with the same dedup_key, routing key from the environment, never stored', async () => {
    const team = unique();
    const ruleId = await insertRule({ receiver: 'pagerduty', preset: 'pagerduty', labels: { team } });
    const alert = await seedAlert({ alertname: 'DiskFull', instance: 'db-1', team });
    await publish([changeOf(alert, 'firing')]);
    await settledRow(alert.instanceId, 'firing');
    await publish([changeOf(alert, 'resolved')]);
    await settledRow(alert.instanceId, 'resolved');

    const requests = requestsTo('pagerduty').filter((request) => request.body.includes(`sentryhub-${alert.groupId}-${alert.instanceId}`));
    expect(requests.map((request) => request.path)).toEqual(['/pagerduty/v2/enqueue', '/pagerduty/v2/enqueue']);
    const [trigger, resolve] = requests.map((request) => JSON.parse(request.body));
    // The fields PagerDuty requires: routing_key, event_action, and for a trigger payload.summary/source/severity.
    expect(trigger).toMatchObject({ routing_key: ENV.PD_ROUTING_KEY, event_action: 'trigger', dedup_key: `sentryhub-${alert.groupId}-${alert.instanceId}` });
    expect(trigger.payload).toMatchObject({ summary: 'DiskFull: disk "sda" almost full', source: 'db-1', severity: 'critical' });
    expect(['critical', 'error', 'warning', 'info']).toContain(trigger.payload.severity);
    expect(resolve).toMatchObject({ routing_key: ENV.PD_ROUTING_KEY, event_action: 'resolve', dedup_key: trigger.dedup_key });
    expect(requests[0]?.headers['content-type']).toBe('application/json');

    const rows = await rowsOf(alert.instanceId);
    expect(rows.map((row) => [row.notifier, row.webhook_rule_id, row.rule_id, row.channel, row.kind, row.status, row.delivered_via])).toEqual([
      ['webhook', ruleId, null, 'pagerduty', 'firing', 'sent', 'webhook'],
      ['webhook', ruleId, null, 'pagerduty', 'resolved', 'sent', 'webhook'],
    ]);
    // The stored body has a placeholder where the routing key goes.
    for (const row of rows) expect(row.text).not.toContain(ENV.PD_ROUTING_KEY);
    expect(rows[0]?.text).toContain('${SENTRYHUB_PARAM:routingKey}');
  });

  it('Microsoft Teams workflow: an Adaptive Card message, to the URL from the environment', async () => {
    const team = unique();
    await insertRule({ receiver: 'teams', preset: 'teams', labels: { team } });
    const alert = await seedAlert({ alertname: 'HighCPU', instance: 'web-1', team });
    await publish([changeOf(alert, 'firing')]);
    await settledRow(alert.instanceId, 'firing');
    const request = requestsTo('teams').find((candidate) => candidate.body.includes(team));
    expect(request?.path).toBe('/teams/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRET-SIG');
    const body = JSON.parse(request?.body ?? '{}');
    expect(body.type).toBe('message');
    expect(body.attachments).toHaveLength(1);
    const [attachment] = body.attachments;
    expect(attachment.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(attachment.content).toMatchObject({ type: 'AdaptiveCard', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(attachment.content.version).toMatch(/^1\.\d$/);
    const texts = attachment.content.body.filter((block: { type: string }) => block.type === 'TextBlock').map((block: { text: string }) => block.text);
    expect(texts[0]).toBe('[FIRING] HighCPU (critical)');
    expect(texts).toContain('disk "sda" almost full');
    const facts = attachment.content.body.find((block: { type: string }) => block.type === 'FactSet').facts;
    expect(facts).toContainEqual({ title: 'team', value: team });
  });

  it('Opsgenie: create with message and alias (GenieKey from the environment), close by alias at resolvedPath', async () => {
    const team = unique();
    await insertRule({ receiver: 'opsgenie', preset: 'opsgenie', labels: { team } });
    const alert = await seedAlert({ alertname: 'QueueStuck', instance: 'mq-1', team });
    await publish([changeOf(alert, 'firing')]);
    await settledRow(alert.instanceId, 'firing');
    await publish([changeOf(alert, 'resolved')]);
    await settledRow(alert.instanceId, 'resolved');
    const alias = `sentryhub-${alert.groupId}-${alert.instanceId}`;
    const create = requestsTo('opsgenie').find((request) => request.path === '/opsgenie/v2/alerts' && request.body.includes(alias));
    const close = requestsTo('opsgenie').find((request) => request.path === `/opsgenie/v2/alerts/${alias}/close?identifierType=alias`);
    expect(create?.headers['authorization']).toBe(ENV.OG_AUTH);
    const created = JSON.parse(create?.body ?? '{}');
    expect(created).toMatchObject({ alias, priority: 'P1', source: 'SentryHub', entity: 'mq-1' });
    expect(created.message).toBe('QueueStuck: disk "sda" almost full');
    expect(created.message.length).toBeLessThanOrEqual(130);
    expect(created.tags).toContain(`team:${team}`);
    expect(close?.headers['authorization']).toBe(ENV.OG_AUTH);
    expect(JSON.parse(close?.body ?? '{}')).toMatchObject({ source: 'SentryHub', user: 'SentryHub' });
  });

  it("Alertmanager webhook v4: a body SentryHub's own intake schema accepts, with headers from the environment and a verifiable HMAC-SHA256 signature", async () => {
    const team = unique();
    await insertRule({ receiver: 'hook', preset: 'alertmanager', labels: { team } });
    const alert = await seedAlert({ alertname: 'Latency', instance: 'api-1', team });
    await publish([changeOf(alert, 'firing')]);
    await settledRow(alert.instanceId, 'firing');
    await publish([changeOf(alert, 'resolved')]);
    await settledRow(alert.instanceId, 'resolved');
    const [firing, resolved] = requestsTo('hook').filter((request) => request.body.includes(team));
    for (const request of [firing, resolved]) {
      expect(request?.headers['authorization']).toBe(ENV.HOOK_TOKEN);
      const expected = `sha256=${createHmac('sha256', ENV.HOOK_HMAC)
        .update(request?.body ?? '', 'utf8')
        .digest('hex')}`;
      expect(request?.headers['x-sentryhub-signature']).toBe(expected);
      // A wrong key does not verify: the header really is the body's HMAC.
      expect(request?.headers['x-sentryhub-signature']).not.toBe(
        `sha256=${createHmac('sha256', 'other')
          .update(request?.body ?? '', 'utf8')
          .digest('hex')}`,
      );
    }
    const body = JSON.parse(firing?.body ?? '{}');
    expect(AlertmanagerWebhook.safeParse(body).success).toBe(true);
    expect(body).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'hook',
      groupLabels: alert.labels,
      commonLabels: alert.labels,
      externalURL: 'http://sentryhub.example:8081',
    });
    expect(body.alerts).toEqual([
      {
        status: 'firing',
        labels: alert.labels,
        annotations: { summary: 'disk "sda" almost full', description: 'line one\nline two' },
        startsAt: STARTS_AT,
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.example/graph',
        fingerprint: alert.fingerprint,
      },
    ]);
    const end = JSON.parse(resolved?.body ?? '{}');
    expect(AlertmanagerWebhook.safeParse(end).success).toBe(true);
    expect(end.status).toBe('resolved');
    expect(end.alerts[0]).toMatchObject({ status: 'resolved', endsAt: ENDS_AT });
  });
});

describe('webhook-notifier: delivery', () => {
  it('retries a receiver that answers 500 with back-off through the broker, then marks the row failed and dead-letters the message', async () => {
    const team = unique();
    await insertRule({ receiver: 'failing', bodyTemplate: '{"alert": "{{ alert_group.name }}", "team": {{ labels.team | json }}}', labels: { team } });
    const alert = await seedAlert({ alertname: 'AlwaysFails', team });
    answers.set(
      'failing',
      Array.from({ length: 10 }, () => ({ status: 500 })),
    );
    const event = await publish([changeOf(alert, 'firing')]);
    const row = await settledRow(alert.instanceId, 'firing', 'failed');
    // The first attempt and one per retry queue, no more.
    const attempts = requestsTo('failing').filter((request) => request.body.includes(team));
    expect(attempts).toHaveLength(RETRY_DELAYS_MS.length + 1);
    expect(JSON.parse(attempts[0]?.body ?? '{}')).toEqual({ alert: 'AlwaysFails', team });
    // Back-off: each retry waited at least its queue's delay.
    attempts.slice(1).forEach((attempt, index) => expect(attempt.at - (attempts[index]?.at ?? 0)).toBeGreaterThanOrEqual((RETRY_DELAYS_MS[index] ?? 0) - 20));
    expect(row).toMatchObject({ attempts: RETRY_DELAYS_MS.length + 1, status: 'failed' });
    expect(row.last_error).toContain('answered 500');

    const connection = await amqplib.connect(vhost.url);
    try {
      const channel = await connection.createChannel();
      const dead = await waitFor(
        async () => {
          const message = await channel.get(deadLetterQueueName(QUEUES.webhookNotifierAlertsProcessed), { noAck: true });
          return message && JSON.parse(message.content.toString()).id === event.id ? message : null;
        },
        10_000,
        'the dead-lettered event',
      );
      expect(String(dead.properties.headers?.[HEADERS.error])).toContain('answered 500');
    } finally {
      await connection.close();
    }
  });

  it('waits out a 429 Retry-After before posting again, without using up retries', async () => {
    const team = unique();
    await insertRule({ receiver: 'limited', bodyTemplate: '{"team": {{ labels.team | json }}}', labels: { team } });
    const alert = await seedAlert({ alertname: 'RateLimited', team });
    answers.set('limited', [
      { status: 429, headers: { 'retry-after': '2' } },
      { status: 429, headers: { 'retry-after': '1' } },
    ]);
    await publish([changeOf(alert, 'firing')]);
    const row = await settledRow(alert.instanceId, 'firing');
    const attempts = requestsTo('limited').filter((request) => request.body.includes(team));
    expect(attempts).toHaveLength(3);
    expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_950);
    expect((attempts[2]?.at ?? 0) - (attempts[1]?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(row.status).toBe('sent');
  });

  it('two replicas given two copies of each event post each notification once', async () => {
    const team = unique();
    slowness.set('slow', 250);
    await insertRule({ receiver: 'slow', bodyTemplate: '{"instance": {{ latest_instance.id | json }}, "status": {{ status | json }}}', labels: { team } });
    const alerts = await Promise.all(Array.from({ length: 8 }, (_, index) => seedAlert({ alertname: `Dup${index}`, team })));
    // Each event twice, one copy published through each replica's connection: both consume the queue.
    for (const alert of alerts) await publish([changeOf(alert, 'firing')], 2);
    for (const alert of alerts) await settledRow(alert.instanceId, 'firing');
    await sleep(1_500);
    for (const alert of alerts) {
      const posted = requestsTo('slow').filter((request) => JSON.parse(request.body).instance === alert.instanceId);
      expect(posted, `instance ${alert.instanceId}`).toHaveLength(1);
      expect(await rowsOf(alert.instanceId)).toHaveLength(1);
    }
  });

  it('a rule whose body renders no JSON at runtime fails its row without a request, naming the problem', async () => {
    const team = unique();
    // Valid JSON for the sample used on save would need quoting; this one renders the raw value.
    await insertRule({ receiver: 'hook', bodyTemplate: '{"summary": {{ summary | raw }}}', labels: { team } });
    const alert = await seedAlert({ alertname: 'BadBody', team });
    const before = requestsTo('hook').length;
    await publish([changeOf(alert, 'firing')]);
    const row = await settledRow(alert.instanceId, 'firing', 'failed');
    expect(row.last_error).toContain('does not render valid JSON');
    expect(requestsTo('hook')).toHaveLength(before);
  });
});
