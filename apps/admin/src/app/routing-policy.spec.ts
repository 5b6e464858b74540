import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

const logger = createLogger('admin-routing-test', 'silent');
const BOOTSTRAP = 'bootstrap-admin-key-routing-0123';

/** Inhibition rules through the admin API, and explain's account of fan-out and inhibition, on a real PostgreSQL. */
describe('admin API: inhibition rules and the routing policy in explain', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  const keys = { admin: BOOTSTRAP, editor: '', viewer: '' };
  type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
  const call = (method: Method, url: string, role: keyof typeof keys, payload?: unknown) =>
    app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${keys[role]}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  async function seedGroup(fingerprint: string, labels: Record<string, string>, status: 'firing' | 'resolved') {
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint,
        name: labels['alertname'] ?? 'x',
        labels: JSON.stringify(labels),
        severity: labels['severity'] ?? 'warning',
        instance: labels['instance'] ?? null,
        source: 'webhook',
        current_status: status,
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return group.id;
  }

  const nodeDown = {
    name: 'node-down-holds-its-disks',
    sourceMatchers: [{ name: 'alertname', value: 'NodeDown', isEqual: true, isRegex: false }],
    targetMatchers: [{ name: 'severity', value: 'warning|info', isEqual: true, isRegex: true }],
    equal: ['instance'],
    comment: 'a dead node explains its disks',
  };

  beforeAll(async () => {
    database = await createTestDatabase('admin-routing');
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('admin-routing-test'),
      defaultChannel: '#general',
    });
    for (const role of ['editor', 'viewer'] as const) keys[role] = (await call('POST', '/api-keys', 'admin', { name: `${role}-key`, role })).json().key;
  });

  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  describe('/inhibit-rules', () => {
    let id = 0;

    it('creates a rule (editor), audited, and lists it to a viewer', async () => {
      const created = await call('POST', '/inhibit-rules', 'editor', nodeDown);
      expect(created.statusCode).toBe(201);
      const body = created.json();
      id = body.id;
      expect(body).toMatchObject({ ...nodeDown, createdBy: 'key:editor-key' });
      const listed = await call('GET', '/inhibit-rules', 'viewer');
      expect(listed.statusCode).toBe(200);
      expect(listed.json().items).toEqual([body]);
      expect((await call('GET', `/inhibit-rules/${id}`, 'viewer')).json()).toEqual(body);
      const audit = await database.db.selectFrom('audit_log').selectAll().where('entity', '=', 'inhibit_rule').execute();
      expect(audit.map((row) => [row.action, row.actor, row.entity_id])).toEqual([['create', 'key:editor-key', String(id)]]);
    });

    it('refuses writes to a viewer (403) and bad bodies with a 400 naming the problem', async () => {
      expect((await call('POST', '/inhibit-rules', 'viewer', nodeDown)).statusCode).toBe(403);
      expect((await call('DELETE', `/inhibit-rules/${id}`, 'viewer')).statusCode).toBe(403);
      const noSource = await call('POST', '/inhibit-rules', 'editor', { ...nodeDown, name: 'x', sourceMatchers: [] });
      expect(noSource.statusCode).toBe(400);
      expect(noSource.body).toContain('at least one source matcher');
      const badRegex = await call('POST', '/inhibit-rules', 'editor', {
        ...nodeDown,
        name: 'y',
        targetMatchers: [{ name: 'severity', value: '(', isEqual: true, isRegex: true }],
      });
      expect(badRegex.statusCode).toBe(400);
      expect(badRegex.body).toContain('invalid regular expression');
      const twice = await call('POST', '/inhibit-rules', 'editor', { ...nodeDown, name: 'z', equal: ['instance', 'instance'] });
      expect(twice.statusCode).toBe(400);
      expect(twice.body).toContain('equal names a label twice');
      const duplicate = await call('POST', '/inhibit-rules', 'editor', nodeDown);
      expect(duplicate.statusCode).toBe(409);
    });

    it('updates and deletes, each audited; a missing rule is 404', async () => {
      const updated = await call('PUT', `/inhibit-rules/${id}`, 'editor', { ...nodeDown, equal: ['instance', 'cluster'] });
      expect(updated.statusCode).toBe(200);
      expect(updated.json().equal).toEqual(['instance', 'cluster']);
      expect((await call('PUT', '/inhibit-rules/999999', 'editor', nodeDown)).statusCode).toBe(404);
      expect((await call('DELETE', `/inhibit-rules/${id}`, 'editor')).statusCode).toBe(204);
      expect((await call('GET', `/inhibit-rules/${id}`, 'viewer')).statusCode).toBe(404);
      const audit = await database.db
        .selectFrom('audit_log')
        .select('action')
        .where('entity', '=', 'inhibit_rule')
        .where('entity_id', '=', String(id))
        .orderBy('id')
        .execute();
      expect(audit.map((row) => row.action)).toEqual(['create', 'update', 'delete']);
    });
  });

  describe('explain', () => {
    it('shows every rule that applies with continue, and where the search stopped', async () => {
      const slack = (name: string, priority: number, extra: Record<string, unknown>) =>
        call('POST', '/slack-rules', 'editor', { name, priority, messageTemplate: `${name}: {{ alert_group.name }}`, ...extra });
      expect((await slack('team-storage', 30, { matchCriteria: { team: 'storage' }, slackChannel: '#storage', continue: true })).statusCode).toBe(201);
      expect((await slack('critical', 20, { matchCriteria: { severity: 'critical' }, slackChannel: '#critical' })).statusCode).toBe(201);
      expect((await slack('catch-all', 0, { slackChannel: '#all' })).statusCode).toBe(201);

      const x = (
        await call('POST', '/explain', 'editor', { labels: { alertname: 'DiskFull', team: 'storage', severity: 'critical', instance: 'db-1' } })
      ).json();
      expect(x.slack.applied.map((a: { rule: string; channel: string; decision: string }) => [a.rule, a.channel, a.decision])).toEqual([
        ['team-storage', '#storage', 'send'],
        ['critical', '#critical', 'send'],
      ]);
      expect(x.slack.stoppedAt).toBe('critical');
      expect(x.slack.winner).toBe('team-storage');
      expect(x.slack.rules.map((r: { name: string; outcome: string }) => [r.name, r.outcome])).toEqual([
        ['team-storage', 'applied'],
        ['critical', 'applied'],
        ['catch-all', 'not-reached'],
      ]);
      expect(x.slack.rules[2].reason).toBe('not tried: the search stopped at "critical" (no continue); it would match');

      // Without continue, the first match alone applies: today's behaviour.
      const web = (await call('POST', '/explain', 'editor', { labels: { alertname: 'HighCPU', team: 'web', severity: 'critical' } })).json();
      expect(web.slack.applied.map((a: { rule: string }) => a.rule)).toEqual(['critical']);
    });

    it('shows the inhibition that holds a group back, naming the firing source', async () => {
      const rule = (await call('POST', '/inhibit-rules', 'editor', nodeDown)).json();
      const target = { alertname: 'DiskSlow', severity: 'warning', instance: 'db-7' };
      const before = (await call('POST', '/explain', 'editor', { labels: target })).json();
      expect(before.inhibitedBy).toBeNull();
      expect(before.slack.applied[0]).toMatchObject({ rule: 'catch-all', decision: 'send', reason: null });

      const sourceId = await seedGroup('aaaaaaaaaaaaaaa1', { alertname: 'NodeDown', severity: 'critical', instance: 'db-7' }, 'firing');
      await seedGroup('aaaaaaaaaaaaaaa2', { alertname: 'NodeDown', severity: 'critical', instance: 'db-8' }, 'firing');
      const during = (await call('POST', '/explain', 'editor', { labels: target })).json();
      expect(during.inhibitedBy).toEqual({
        ruleId: rule.id,
        ruleName: nodeDown.name,
        sourceGroupId: sourceId,
        sourceFingerprint: 'aaaaaaaaaaaaaaa1',
        sourceName: 'NodeDown',
      });
      expect(during.slack.applied[0]).toMatchObject({
        rule: 'catch-all',
        decision: 'inhibited',
        reason: `inhibited by alert group ${sourceId} (inhibit rule "${nodeDown.name}" (${rule.id}))`,
      });
      // Another instance's disks are not held back; neither is the source itself.
      expect((await call('POST', '/explain', 'editor', { labels: { ...target, instance: 'db-9' } })).json().inhibitedBy).toBeNull();
      expect(
        (await call('POST', '/explain', 'editor', { labels: { alertname: 'NodeDown', severity: 'critical', instance: 'db-7' } })).json().inhibitedBy,
      ).toBeNull();

      await database.db.updateTable('alert_groups').set({ current_status: 'resolved' }).where('id', '=', sourceId).execute();
      const after = (await call('POST', '/explain', 'editor', { labels: target })).json();
      expect(after.inhibitedBy).toBeNull();
      expect(after.slack.applied[0].decision).toBe('send');
    });
  });
});
