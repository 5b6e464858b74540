import { fingerprint } from '@sentryhub/alert-identity';
import { createLogger, createMetricsRegistry, parseWebhookReceivers, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from '../api-keys';
import { buildAdmin } from '../app';

/**
 * `POST /api/v1/{email,webhook}-rules/:id/group-preview` on a real PostgreSQL: a grouped rule's
 * messages for several alert groups, one per group key under its `groupBy`, as the email- and
 * webhook-notifier's group flush make them. (Slack's is in admin.spec.ts.)
 */
const logger = createLogger('admin-group-preview-test', 'silent');
const BOOTSTRAP = 'group-preview-admin-key-0123456789';

describe('admin: the grouped preview of email and webhook rules (real PostgreSQL)', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  const groups: Record<string, number> = {};
  const call = (method: 'POST' | 'DELETE', url: string, payload?: object) =>
    app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${BOOTSTRAP}` }, ...(payload ? { payload } : {}) });

  async function seed(key: string, labels: Record<string, string>) {
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: fingerprint(labels),
        name: labels['alertname'] ?? key,
        labels: JSON.stringify(labels),
        severity: 'critical',
        instance: labels['instance'] ?? null,
        source: 'webhook',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: '2026-12-01T08:00:00.000Z',
        last_occurrence: '2026-12-01T08:00:00.000Z',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await database.db
      .insertInto('alert_instances')
      .values({ group_id: group.id, status: 'firing', starts_at: '2026-12-01T08:00:00.000Z', annotations: JSON.stringify({ summary: `${key} is bad` }) })
      .execute();
    groups[key] = group.id;
  }

  beforeAll(async () => {
    database = await createTestDatabase('admin_group_preview');
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    const webhookReceivers = parseWebhookReceivers('am:\n  url: http://127.0.0.1:9/hook\n');
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('admin-group-preview'),
      defaultChannel: '#general',
      webhookReceivers,
    });
    await seed('web-1', { alertname: 'HighCPU', instance: 'web-1', team: 'web' });
    await seed('web-2', { alertname: 'HighCPU', instance: 'web-2', team: 'web' });
    await seed('db-1', { alertname: 'DiskFull', instance: 'db-1', team: 'storage' });
  });

  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('previews a grouped email rule: one email per group key, the title as subject, then each alert’s own body', async () => {
    const created = await call('POST', '/email-rules', {
      name: 'grouped mail',
      matchCriteria: {},
      recipients: ['ops@example.com'],
      subjectTemplate: '{{ alert_group.name }}',
      bodyTemplate: '{{ labels.instance }}: {{ summary }}',
      groupBy: ['team'],
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    const preview = await call('POST', `/email-rules/${id}/group-preview`, { groupIds: [groups['web-1'], groups['db-1'], groups['web-2']] });
    expect(preview.statusCode).toBe(200);
    expect(preview.json().messages).toEqual([
      {
        groupKey: '[["team","web"]]',
        groupLabels: { team: 'web' },
        groupIds: [groups['web-1'], groups['web-2']],
        rendered: 'per-alert',
        subject: '[FIRING:2] HighCPU (team=web)',
        text: '[FIRING:2] HighCPU (team=web)\n• web-1: web-1 is bad\n• web-2: web-2 is bad',
        failed: false,
        channel: 'ops@example.com',
      },
      {
        groupKey: '[["team","storage"]]',
        groupLabels: { team: 'storage' },
        groupIds: [groups['db-1']],
        rendered: 'per-alert',
        subject: '[FIRING:1] DiskFull (team=storage)',
        text: '[FIRING:1] DiskFull (team=storage)\n• db-1: db-1 is bad',
        failed: false,
        channel: 'ops@example.com',
      },
    ]);

    // Group templates: rendered once with the group, the subject included.
    const groupTemplates = await call('POST', '/email-rules', {
      name: 'group templates',
      matchCriteria: {},
      recipients: ['ops@example.com'],
      subjectTemplate: '{{ firing_count }} firing',
      bodyTemplate: '{% for a in alerts %}{{ a.labels.instance }} {{ a.status }};{% endfor %}',
      groupBy: ['team'],
    });
    const resolved = await call('POST', `/email-rules/${groupTemplates.json().id}/group-preview`, {
      groupIds: [groups['web-1'], groups['web-2']],
      kind: 'resolved',
    });
    expect(resolved.json().messages).toEqual([
      expect.objectContaining({ rendered: 'group', subject: '0 firing', text: 'web-1 resolved;web-2 resolved;', failed: false }),
    ]);

    const ungrouped = await call('POST', '/email-rules', {
      name: 'one by one',
      matchCriteria: {},
      recipients: ['ops@example.com'],
      subjectTemplate: 's',
      bodyTemplate: 'b',
    });
    const refused = await call('POST', `/email-rules/${ungrouped.json().id}/group-preview`, { groupIds: [groups['web-1']] });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe(`email rule ${ungrouped.json().id} has no groupBy: each alert is its own message (use /preview)`);
    expect((await call('POST', `/email-rules/${id}/group-preview`, { groupIds: [999_999] })).statusCode).toBe(404);
  });

  it('previews a grouped webhook rule: one body per group key with every alert of the group (the Alertmanager preset)', async () => {
    const created = await call('POST', '/webhook-rules', {
      name: 'grouped hook',
      matchCriteria: {},
      receiver: 'am',
      preset: 'alertmanager',
      groupBy: ['team'],
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    const preview = await call('POST', `/webhook-rules/${id}/group-preview`, { groupIds: [groups['web-1'], groups['web-2'], groups['db-1']], kind: 'firing' });
    expect(preview.statusCode).toBe(200);
    const messages = preview.json().messages as { groupIds: number[]; text: string; failed: boolean; channel: string }[];
    expect(messages.map((message) => [message.groupIds, message.failed, message.channel])).toEqual([
      [[groups['web-1'], groups['web-2']], false, 'am'],
      [[groups['db-1']], false, 'am'],
    ]);
    const [web] = messages.map((message) => JSON.parse(message.text));
    expect(web).toMatchObject({ status: 'firing', groupLabels: { team: 'web' }, commonLabels: { alertname: 'HighCPU', team: 'web' } });
    expect(web.alerts.map((alert: { labels: { instance: string } }) => alert.labels.instance)).toEqual(['web-1', 'web-2']);

    const ungrouped = await call('POST', '/webhook-rules', { name: 'hook one by one', matchCriteria: {}, receiver: 'am', preset: 'alertmanager' });
    expect((await call('POST', `/webhook-rules/${ungrouped.json().id}/group-preview`, { groupIds: [groups['web-1']] })).statusCode).toBe(400);
  });
});
