import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, createMetricsRegistry, parseWebhookReceivers, Readiness, signBody } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

/**
 * The admin's webhook rules and receivers on a real PostgreSQL, with a local HTTP server as the
 * receiver of test sends. The receivers file is the webhook-notifier's; its values come from an
 * environment given to the admin.
 */

const logger = createLogger('admin-webhook-test', 'silent');
const BOOTSTRAP = 'bootstrap-admin-key-0123456789';
const ENV = {
  PD_ROUTING_KEY: 'R0UTING-KEY-0123456789abcdef',
  HOOK_TOKEN: 'Bearer hook-token-abcdef',
  HOOK_HMAC: 'hmac-secret-0123456789',
};

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('admin: webhook rules and receivers (real PostgreSQL, a local receiver)', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let server: Server;
  let baseUrl: string;
  const received: Received[] = [];
  /** The status of the receiver's next answers; 200 when empty. */
  const answers: number[] = [];
  const keys: Record<'admin' | 'editor' | 'viewer', string> = { admin: BOOTSTRAP, editor: '', viewer: '' };
  let groupId: number;
  let instanceId: number;

  type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
  const call = (method: Method, url: string, role: keyof typeof keys, payload?: unknown) =>
    app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${keys[role]}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  const auditOf = (entityId: number) =>
    database.db
      .selectFrom('audit_log')
      .select(['action', 'actor', 'changes'])
      .where('entity', '=', 'webhook_rule')
      .where('entity_id', '=', String(entityId))
      .orderBy('id')
      .execute();

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ path: request.url ?? '/', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        const status = answers.shift() ?? 202;
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(status < 300 ? '{"status":"success"}' : '{"error":"receiver is down"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    database = await createTestDatabase('admin_webhook_rules');
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    const receivers = parseWebhookReceivers(`
pagerduty:
  url: ${baseUrl}/pagerduty/v2/enqueue
  params:
    routingKey: { env: PD_ROUTING_KEY }
hook:
  url: ${baseUrl}/hook?token=in-the-query
  headers:
    Authorization: { env: HOOK_TOKEN }
  hmacSecretEnv: HOOK_HMAC
  signatureHeader: X-Hook-Signature
unset-vars:
  url: ${baseUrl}/unset
  headers:
    Authorization: { env: NOT_SET_ANYWHERE }
`);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('admin-webhook-test'),
      defaultChannel: '#general',
      webhookReceivers: receivers,
      webhookExternalUrl: 'https://sentryhub.example',
      env: ENV,
    });
    for (const role of ['editor', 'viewer'] as const) keys[role] = (await call('POST', '/api-keys', 'admin', { name: `${role}-key`, role })).json().key;

    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: 'd15cf011d15cf011',
        name: 'DiskFull',
        labels: JSON.stringify({ alertname: 'DiskFull', severity: 'critical', instance: 'db-1', team: 'storage' }),
        severity: 'critical',
        instance: 'db-1',
        source: 'webhook',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: '2026-11-26T08:00:00.000Z',
        last_occurrence: '2026-11-26T08:00:00.000Z',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    groupId = group.id;
    const instance = await database.db
      .insertInto('alert_instances')
      .values({ group_id: groupId, status: 'firing', starts_at: '2026-11-26T08:00:00.000Z', annotations: JSON.stringify({ summary: 'disk /var is 97% full' }) })
      .returning('id')
      .executeTakeFirstOrThrow();
    instanceId = instance.id;
  });

  afterAll(async () => {
    await app?.close();
    await new Promise((resolve) => server?.close(resolve));
    await database?.destroy();
  });

  it('lists the receivers to a viewer by name, with header and parameter names and never a value', async () => {
    const answer = await call('GET', '/receivers', 'viewer');
    expect(answer.statusCode).toBe(200);
    const { items, presets } = answer.json();
    expect(items.map((item: { name: string }) => item.name)).toEqual(['hook', 'pagerduty', 'unset-vars']);
    const hook = items.find((item: { name: string }) => item.name === 'hook');
    expect(hook).toMatchObject({ headers: ['Authorization'], params: [], signed: true, signatureHeader: 'X-Hook-Signature', url: `${baseUrl}/hook?…` });
    // PagerDuty's preset needs the routingKey parameter: only the receiver that has it offers it.
    expect(items.find((item: { name: string }) => item.name === 'pagerduty').presets).toEqual(['pagerduty', 'teams', 'opsgenie', 'alertmanager']);
    expect(hook.presets).not.toContain('pagerduty');
    expect(presets.map((preset: { id: string }) => preset.id)).toEqual(['pagerduty', 'teams', 'opsgenie', 'alertmanager']);
    expect(presets[0].template).toContain('receiver.params.routingKey');
    const text = answer.body;
    for (const secret of [...Object.values(ENV), 'in-the-query', 'NOT_SET']) expect(text).not.toContain(secret);
  });

  let pagerdutyRule: number;

  it('creates a rule from a preset (editor), audited, and lists it to a viewer', async () => {
    const created = await call('POST', '/webhook-rules', 'editor', {
      name: 'pd-critical',
      priority: 5,
      matchCriteria: { severity: 'critical' },
      receiver: 'pagerduty',
      preset: 'pagerduty',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      name: 'pd-critical',
      receiver: 'pagerduty',
      preset: 'pagerduty',
      bodyTemplate: null,
      sendResolved: true,
      continue: false,
    });
    pagerdutyRule = created.json().id;
    const listed = await call('GET', '/webhook-rules', 'viewer');
    expect(listed.json().items.map((rule: { name: string }) => rule.name)).toEqual(['pd-critical']);
    expect((await call('GET', `/webhook-rules/${pagerdutyRule}`, 'viewer')).json().receiver).toBe('pagerduty');
    const audit = await auditOf(pagerdutyRule);
    expect(audit.map((row) => [row.action, row.actor])).toEqual([['create', 'key:editor-key']]);
    expect(audit[0]?.changes).toMatchObject({ receiver: 'pagerduty', preset: 'pagerduty' });
    expect(
      await database.db.selectFrom('webhook_rules').select(['receiver', 'preset', 'body_template']).where('id', '=', pagerdutyRule).executeTakeFirst(),
    ).toEqual({ receiver: 'pagerduty', preset: 'pagerduty', body_template: null });
  });

  it('refuses with 400 naming the problem: an unknown receiver, a body that is not JSON, no body, an unknown preset, a preset the receiver lacks params for', async () => {
    const base = { name: 'bad', receiver: 'hook' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { ...base, receiver: 'nope', preset: 'alertmanager' },
        /^invalid webhook rule: receiver: receiver "nope" is not configured \(WEBHOOK_RECEIVERS_FILE names "hook", "pagerduty", "unset-vars"\)/,
      ],
      [{ ...base, bodyTemplate: '{"text": {{ summary }}}' }, /^invalid webhook rule: bodyTemplate: the template does not render valid JSON/],
      [{ ...base, bodyTemplate: '{"text": "{% if %}"}' }, /^invalid webhook rule: bodyTemplate: template does not parse/],
      [base, /^invalid webhook rule: bodyTemplate: a webhook rule needs a bodyTemplate or a preset/],
      [{ ...base, preset: 'slack' }, /^invalid webhook rule: preset: unknown preset "slack" \(one of pagerduty, teams, opsgenie, alertmanager\)/],
      [
        { ...base, preset: 'pagerduty' },
        /^invalid webhook rule: receiver: the pagerduty preset needs receiver params routingKey, which receiver "hook" does not have/,
      ],
      [{ ...base, receiver: 'http://169.254.169.254/latest', preset: 'alertmanager' }, /receiver must be the name of a receiver in WEBHOOK_RECEIVERS_FILE/],
    ];
    for (const [body, error] of cases) {
      const answer = await call('POST', '/webhook-rules', 'editor', body);
      expect(answer.statusCode, JSON.stringify(body)).toBe(400);
      expect(answer.json().error ?? answer.json().message, JSON.stringify(body)).toMatch(error);
    }
    const updated = await call('PUT', `/webhook-rules/${pagerdutyRule}`, 'editor', { name: 'pd-critical', receiver: 'pagerduty', bodyTemplate: 'not json' });
    expect(updated.statusCode).toBe(400);
    expect(updated.json().error).toMatch(/does not render valid JSON/);
    expect(await database.db.selectFrom('webhook_rules').select('name').execute()).toEqual([{ name: 'pd-critical' }]);
  });

  it('answers 403 to a viewer for every write, preview and test, and 409 to a second rule of one name', async () => {
    const body = { name: 'viewer-rule', receiver: 'hook', preset: 'alertmanager' };
    const writes = [
      call('POST', '/webhook-rules', 'viewer', body),
      call('PUT', `/webhook-rules/${pagerdutyRule}`, 'viewer', body),
      call('DELETE', `/webhook-rules/${pagerdutyRule}`, 'viewer'),
      call('POST', `/webhook-rules/${pagerdutyRule}/preview`, 'viewer', { groupId }),
      call('POST', '/webhook-rules/preview', 'viewer', { rule: body, groupId }),
      call('POST', `/webhook-rules/${pagerdutyRule}/test`, 'viewer', {}),
    ];
    for (const answer of await Promise.all(writes)) expect(answer.statusCode).toBe(403);
    expect(received).toEqual([]);
    const duplicate = await call('POST', '/webhook-rules', 'editor', { name: 'pd-critical', receiver: 'hook', preset: 'alertmanager' });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().error).toBe('a webhook rule named "pd-critical" already exists');
  });

  it('previews the preset JSON for a real group, firing and resolved, with the receiver parameter as a placeholder', async () => {
    const firing = await call('POST', `/webhook-rules/${pagerdutyRule}/preview`, 'editor', { groupId });
    expect(firing.statusCode).toBe(200);
    expect(firing.json()).toMatchObject({ groupId, kind: 'firing', failed: false, channel: 'pagerduty' });
    const body = JSON.parse(firing.json().text);
    expect(body).toMatchObject({
      routing_key: '${SENTRYHUB_PARAM:routingKey}',
      event_action: 'trigger',
      dedup_key: `sentryhub-${groupId}-${instanceId}`,
      client_url: 'https://sentryhub.example',
      payload: { summary: 'DiskFull: disk /var is 97% full', source: 'db-1', severity: 'critical', group: 'storage' },
    });
    expect(firing.body).not.toContain(ENV.PD_ROUTING_KEY);
    const resolved = await call('POST', `/webhook-rules/${pagerdutyRule}/preview`, 'editor', { groupId, kind: 'resolved' });
    expect(JSON.parse(resolved.json().text)).toMatchObject({ event_action: 'resolve', dedup_key: `sentryhub-${groupId}-${instanceId}` });
    const missing = await call('POST', `/webhook-rules/${pagerdutyRule}/preview`, 'editor', { groupId: 999_999 });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toBe('alert group 999999 not found');
  });

  it('previews a rule not saved yet, and checks it first', async () => {
    const draft = { name: 'draft', receiver: 'hook', bodyTemplate: '{"alert": {{ alert_group.name | json }}, "labels": {{ labels | json }}}' };
    const preview = await call('POST', '/webhook-rules/preview', 'editor', { rule: draft, groupId });
    expect(preview.statusCode).toBe(200);
    expect(JSON.parse(preview.json().text)).toEqual({
      alert: 'DiskFull',
      labels: { alertname: 'DiskFull', severity: 'critical', instance: 'db-1', team: 'storage' },
    });
    const broken = await call('POST', '/webhook-rules/preview', 'editor', { rule: { ...draft, bodyTemplate: '{"alert": {{ alert_group.name }}}' }, groupId });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error).toMatch(/does not render valid JSON/);
  });

  it('test-sends one rendered body to the receiver, with its header and HMAC signature, audited', async () => {
    const created = await call('POST', '/webhook-rules', 'editor', { name: 'hook-all', receiver: 'hook', preset: 'alertmanager' });
    expect(created.statusCode).toBe(201);
    const ruleId = created.json().id;
    received.length = 0;
    const test = await call('POST', `/webhook-rules/${ruleId}/test`, 'editor', { groupId });
    expect(test.statusCode).toBe(200);
    expect(test.json()).toMatchObject({ receiver: 'hook', status: 202 });
    expect(received).toHaveLength(1);
    const [request] = received;
    if (!request) throw new Error('no request');
    expect(request.path).toBe('/hook?token=in-the-query');
    expect(request.headers['authorization']).toBe(ENV.HOOK_TOKEN);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-hook-signature']).toBe(signBody(request.body, ENV.HOOK_HMAC));
    expect(request.headers['x-sentryhub-notification']).toMatch(/^test-/);
    const body = JSON.parse(request.body);
    expect(body).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'hook',
      externalURL: 'https://sentryhub.example',
      alerts: [{ labels: { alertname: 'DiskFull' }, annotations: { summary: 'disk /var is 97% full' } }],
    });
    expect(test.json().body).toBe(request.body);
    const audit = await auditOf(ruleId);
    expect(audit.map((row) => row.action)).toEqual(['create', 'test']);
    expect(audit[1]?.changes).toMatchObject({ receiver: 'hook', status: 202, groupId });
  });

  it('puts the receiver parameter value in only when sending (PagerDuty routing key), and sends the sample alert without a group', async () => {
    received.length = 0;
    const test = await call('POST', `/webhook-rules/${pagerdutyRule}/test`, 'editor', {});
    expect(test.statusCode).toBe(200);
    const sent = JSON.parse(received[0]?.body ?? '{}');
    expect(sent).toMatchObject({
      routing_key: ENV.PD_ROUTING_KEY,
      event_action: 'trigger',
      payload: { summary: 'HighCPU: CPU above 90% for 5 minutes "quoted"' },
    });
    expect(received[0]?.path).toBe('/pagerduty/v2/enqueue');
    // The answer shows the body as stored and previewed: the placeholder, never the key.
    expect(test.body).not.toContain(ENV.PD_ROUTING_KEY);
  });

  it('answers 502 when the receiver refuses the test body, 503 when a variable it needs is not set, and audits neither', async () => {
    const hook = (await call('GET', '/webhook-rules', 'viewer')).json().items.find((rule: { name: string }) => rule.name === 'hook-all');
    answers.push(500);
    const refused = await call('POST', `/webhook-rules/${hook.id}/test`, 'editor', {});
    expect(refused.statusCode).toBe(502);
    expect(refused.json().error).toBe('the receiver did not accept the test body: receiver hook answered 500: {"error":"receiver is down"}');
    const unset = await call('POST', '/webhook-rules', 'editor', { name: 'unset', receiver: 'unset-vars', preset: 'alertmanager' });
    expect(unset.statusCode).toBe(201);
    const before = received.length;
    const notSet = await call('POST', `/webhook-rules/${unset.json().id}/test`, 'editor', {});
    expect(notSet.statusCode).toBe(503);
    expect(notSet.json().error).toBe(
      'the admin cannot send to receiver "unset-vars": receiver unset-vars: header Authorization: environment variable NOT_SET_ANYWHERE is not set',
    );
    expect(received.length).toBe(before);
    expect((await auditOf(hook.id)).map((row) => row.action)).toEqual(['create', 'test']);
  });

  it('updates and deletes a rule (editor), audited; 404 for a rule that is not there', async () => {
    const updated = await call('PUT', `/webhook-rules/${pagerdutyRule}`, 'editor', {
      name: 'pd-critical',
      receiver: 'hook',
      bodyTemplate: '{"summary": {{ summary | json }}}',
      isActive: false,
    });
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({ receiver: 'hook', preset: null, bodyTemplate: '{"summary": {{ summary | json }}}', isActive: false });
    expect((await call('DELETE', `/webhook-rules/${pagerdutyRule}`, 'editor')).statusCode).toBe(204);
    expect((await call('GET', `/webhook-rules/${pagerdutyRule}`, 'viewer')).json()).toEqual({ error: `webhook rule ${pagerdutyRule} not found` });
    expect((await call('DELETE', `/webhook-rules/${pagerdutyRule}`, 'editor')).statusCode).toBe(404);
    expect((await auditOf(pagerdutyRule)).map((row) => row.action)).toEqual(['create', 'test', 'update', 'delete']);
  });
});
