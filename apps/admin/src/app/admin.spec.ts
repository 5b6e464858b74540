import { QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, startSlackMock, waitFor, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

const logger = createLogger('admin-test', 'silent');
const BOOTSTRAP = 'bootstrap-admin-key-0123456789';

describe('admin API on a real PostgreSQL and RabbitMQ', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let slack: SlackMock;
  let app: FastifyInstance;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const keys: Record<'admin' | 'editor' | 'viewer', string> = { admin: BOOTSTRAP, editor: '', viewer: '' };
  const groupIds: Record<string, number> = {};

  type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
  const call = (method: Method, url: string, role: keyof typeof keys | null, payload?: unknown) =>
    app.inject({
      method,
      url: `/api/v1${url}`,
      headers: role ? { authorization: `Bearer ${keys[role]}` } : {},
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  async function seedGroup(name: string, labels: Record<string, string>, status: 'firing' | 'resolved', startsAt: string) {
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: `${name.toLowerCase().padEnd(16, '0').slice(0, 16)}`,
        name,
        labels: JSON.stringify({ alertname: name, ...labels }),
        severity: labels['severity'] ?? 'warning',
        instance: labels['instance'] ?? null,
        source: 'webhook',
        current_status: status,
        firing_count: 1,
        first_occurrence: startsAt,
        last_occurrence: startsAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await database.db
      .insertInto('alert_instances')
      .values({
        group_id: group.id,
        status,
        starts_at: startsAt,
        ends_at: status === 'resolved' ? new Date(Date.parse(startsAt) + 60_000) : null,
        annotations: JSON.stringify({ summary: `${name} is bad` }),
        resolution_type: status === 'resolved' ? 'normal' : null,
      })
      .execute();
    groupIds[name] = group.id;
    return group.id;
  }

  beforeAll(async () => {
    [database, vhost, slack] = await Promise.all([createTestDatabase('admin'), createTestVhost('admin'), startSlackMock()]);
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => messaging,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('admin-test'),
      slackEndpoint: slack.url,
      defaultChannel: '#general',
    });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    await seedGroup('DiskFull', { severity: 'critical', instance: 'db-1', team: 'storage' }, 'firing', '2026-11-26T08:00:00.000Z');
    await seedGroup('HighCPU', { severity: 'warning', instance: 'web-1', team: 'web' }, 'firing', '2026-11-26T09:00:00.000Z');
    await seedGroup('OldNews', { severity: 'info', instance: 'web-2', team: 'web' }, 'resolved', '2026-11-25T09:00:00.000Z');
  });

  afterAll(async () => {
    await app?.close();
    await connection?.close();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy(), slack?.close()]);
  });

  describe('API keys and roles', () => {
    it('answers 401 without a key or with a wrong one', async () => {
      expect((await call('GET', '/alert-groups', null)).statusCode).toBe(401);
      const wrong = await app.inject({ method: 'GET', url: '/api/v1/alert-groups', headers: { authorization: 'Bearer nope-nope-nope' } });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toEqual({ error: 'missing or invalid API key' });
    });

    it('lets the bootstrap admin create keys, shown once and stored hashed', async () => {
      for (const role of ['editor', 'viewer'] as const) {
        const created = await call('POST', '/api-keys', 'admin', { name: `${role}-key`, role });
        expect(created.statusCode).toBe(201);
        keys[role] = created.json().key;
        expect(keys[role]).toMatch(/^shk_/);
      }
      const listed = await call('GET', '/api-keys', 'admin');
      expect(listed.json().items.map((k: { name: string; role: string }) => [k.name, k.role])).toEqual([
        ['bootstrap', 'admin'],
        ['editor-key', 'editor'],
        ['viewer-key', 'viewer'],
      ]);
      expect(listed.body).not.toContain(keys.editor);
      const stored = await database.db.selectFrom('api_keys').select('key_hash').execute();
      expect(stored.every((row) => row.key_hash.startsWith('scrypt$') && !row.key_hash.includes(keys.editor))).toBe(true);
    });

    it('refuses writes to a viewer and key management to an editor with 403', async () => {
      expect((await call('GET', '/alert-groups', 'viewer')).statusCode).toBe(200);
      const ack = await call('POST', `/alert-groups/${groupIds['DiskFull']}/acknowledge`, 'viewer', {});
      expect(ack.statusCode).toBe(403);
      expect(ack.json().error).toMatch(/editor role/);
      expect((await call('POST', '/silences', 'viewer', {})).statusCode).toBe(403);
      expect((await call('GET', '/api-keys', 'editor')).statusCode).toBe(403);
      expect((await call('POST', '/api-keys', 'editor', { name: 'x', role: 'admin' })).statusCode).toBe(403);
    });

    it('tells a key who it is', async () => {
      expect((await call('GET', '/me', 'viewer')).json()).toEqual({ name: 'viewer-key', role: 'viewer' });
      expect((await call('GET', '/me', 'admin')).json()).toEqual({ name: 'bootstrap', role: 'admin' });
    });

    it('revokes a key: it stops working at once', async () => {
      const created = (await call('POST', '/api-keys', 'admin', { name: 'temp', role: 'viewer' })).json();
      const temp = { authorization: `Bearer ${created.key}` };
      expect((await app.inject({ method: 'GET', url: '/api/v1/alert-groups', headers: temp })).statusCode).toBe(200);
      expect((await call('DELETE', `/api-keys/${created.id}`, 'admin')).statusCode).toBe(204);
      expect((await app.inject({ method: 'GET', url: '/api/v1/alert-groups', headers: temp })).statusCode).toBe(401);
      expect((await call('DELETE', `/api-keys/${created.id}`, 'admin')).statusCode).toBe(404);
    });
  });

  describe('alert groups', () => {
    it('lists newest first with filters and pagination', async () => {
      const all = (await call('GET', '/alert-groups', 'viewer')).json();
      expect(all.total).toBe(3);
      expect(all.items.map((g: { name: string }) => g.name)).toEqual(['HighCPU', 'DiskFull', 'OldNews']);
      const page2 = (await call('GET', '/alert-groups?page=2&pageSize=2', 'viewer')).json();
      expect(page2).toMatchObject({ total: 3, page: 2, pageSize: 2, items: [{ name: 'OldNews' }] });
      expect((await call('GET', '/alert-groups?status=firing&severity=critical', 'viewer')).json().items.map((g: { name: string }) => g.name)).toEqual([
        'DiskFull',
      ]);
      expect((await call('GET', '/alert-groups?label=team=web', 'viewer')).json().total).toBe(2);
      expect((await call('GET', '/alert-groups?label=team=web&label=instance=web-2', 'viewer')).json().items.map((g: { name: string }) => g.name)).toEqual([
        'OldNews',
      ]);
      expect((await call('GET', '/alert-groups?q=cpu', 'viewer')).json().items.map((g: { name: string }) => g.name)).toEqual(['HighCPU']);
    });

    it('explains bad filters with the error shape', async () => {
      const bad = await call('GET', '/alert-groups?status=burning&pageSize=1000', 'viewer');
      expect(bad.statusCode).toBe(400);
      expect(
        bad
          .json()
          .issues.map((i: { path: string }) => i.path)
          .sort(),
      ).toEqual(['pageSize', 'status']);
    });

    it('acknowledges and unacknowledges with history, audit rows and audit events', async () => {
      const id = groupIds['DiskFull'];
      const acked = await call('POST', `/alert-groups/${id}/acknowledge`, 'editor', { comment: 'looking' });
      expect(acked.statusCode).toBe(200);
      expect(acked.json()).toMatchObject({ acknowledged: true, acknowledgedBy: 'key:editor-key' });
      expect((await call('GET', '/alert-groups?acknowledged=true', 'viewer')).json().items.map((g: { name: string }) => g.name)).toEqual(['DiskFull']);
      expect((await call('POST', `/alert-groups/${id}/unacknowledge`, 'editor', {})).json().acknowledged).toBe(false);
      const detail = (await call('GET', `/alert-groups/${id}`, 'viewer')).json();
      expect(detail.acknowledgements.map((a: { action: string; comment: string | null }) => [a.action, a.comment])).toEqual([
        ['unacknowledge', null],
        ['acknowledge', 'looking'],
      ]);
      const audit = (await call('GET', `/audit-log?entity=alert_group&entityId=${id}`, 'viewer')).json();
      expect(audit.items.map((a: { action: string }) => a.action)).toEqual(['unacknowledge', 'acknowledge']);
      const event = await waitFor(() => channel.get(QUEUES.adminAuditEvents, { noAck: true }).then((m) => m || null), 5_000, 'an audit event');
      expect(event.fields.routingKey).toMatch(/^audit\.[a-z_]+\.[a-z]+$/);
      expect((await call('POST', '/alert-groups/999999/acknowledge', 'editor', {})).statusCode).toBe(404);
    });

    it('adds comments and refuses empty ones', async () => {
      const id = groupIds['HighCPU'];
      const created = await call('POST', `/alert-groups/${id}/comments`, 'editor', { body: 'restarted the pod' });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ author: 'key:editor-key', body: 'restarted the pod' });
      const empty = await call('POST', `/alert-groups/${id}/comments`, 'editor', { body: '   ' });
      expect(empty.statusCode).toBe(400);
      expect(empty.json().issues[0]).toEqual({ path: 'body', message: 'a comment needs text' });
    });

    it('resolves manually: refuses a time before the episode and a group with nothing open', async () => {
      const id = groupIds['HighCPU'];
      const early = await call('POST', `/alert-groups/${id}/resolve`, 'editor', { at: '2026-11-26T08:00:00.000Z' });
      expect(early.statusCode).toBe(400);
      expect(early.json().error).toMatch(/before the episode started/);
      const resolved = await call('POST', `/alert-groups/${id}/resolve`, 'editor', { at: '2026-11-26T09:30:00.000Z', comment: 'fixed by hand' });
      expect(resolved.statusCode).toBe(200);
      expect(resolved.json().status).toBe('resolved');
      const detail = (await call('GET', `/alert-groups/${id}`, 'viewer')).json();
      expect(detail.instances[0]).toMatchObject({ status: 'resolved', resolutionType: 'manual', endsAt: '2026-11-26T09:30:00.000Z' });
      // Notifiers hear of it through the outbox, like any resolution.
      const outbox = await database.db.selectFrom('alert_outbox').select(['routing_key', 'payload']).execute();
      expect(outbox).toHaveLength(1);
      expect(outbox[0]?.routing_key).toBe('alert.processed.resolved');
      const again = await call('POST', `/alert-groups/${id}/resolve`, 'editor', {});
      expect(again.statusCode).toBe(409);
      expect(again.json().error).toMatch(/nothing to resolve/);
    });
  });

  describe('silences', () => {
    let silenceId: number;

    it('validates: at least one matcher, end after start, valid regexes', async () => {
      const base = {
        matchers: [{ name: 'team', value: 'storage', isEqual: true, isRegex: false }],
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        createdBy: 'alice',
        comment: 'disk swap',
      };
      const noMatchers = await call('POST', '/silences', 'editor', { ...base, matchers: [] });
      expect(noMatchers.statusCode).toBe(400);
      expect(noMatchers.json().issues[0]).toEqual({ path: 'matchers', message: 'a silence needs at least one matcher' });
      const backwards = await call('POST', '/silences', 'editor', { ...base, endsAt: base.startsAt });
      expect(backwards.json().issues[0]).toEqual({ path: 'endsAt', message: 'endsAt must be after startsAt' });
      const badRegex = await call('POST', '/silences', 'editor', { ...base, matchers: [{ name: 'instance', value: 'db-(', isEqual: true, isRegex: true }] });
      expect(badRegex.statusCode).toBe(400);
      expect(badRegex.json().issues[0].path).toBe('matchers.0.value');
      expect(badRegex.json().issues[0].message).toMatch(/invalid regular expression "db-\("/);
      const created = await call('POST', '/silences', 'editor', base);
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ state: 'active', createdBy: 'alice', matchers: base.matchers });
      silenceId = created.json().id;
    });

    it('lists the groups it silences now, and the groups show as silenced', async () => {
      const matches = (await call('GET', `/silences/${silenceId}/matches`, 'viewer')).json();
      expect(matches.items.map((g: { name: string }) => g.name)).toEqual(['DiskFull']);
      expect(
        (await call('GET', '/alert-groups?silenced=true', 'viewer')).json().items.map((g: { name: string; silenced: boolean }) => [g.name, g.silenced]),
      ).toEqual([['DiskFull', true]]);
      expect((await call('GET', '/alert-groups?silenced=false', 'viewer')).json().total).toBe(2);
    });

    it('updates, lists by state and deletes', async () => {
      const current = (await call('GET', `/silences/${silenceId}`, 'viewer')).json();
      const updated = await call('PUT', `/silences/${silenceId}`, 'editor', {
        matchers: current.matchers,
        startsAt: current.startsAt,
        endsAt: new Date(Date.now() - 1_000).toISOString(),
        createdBy: 'alice',
        comment: 'ended early',
      });
      expect(updated.json()).toMatchObject({ state: 'expired', comment: 'ended early' });
      expect((await call('GET', '/silences?state=active', 'viewer')).json().total).toBe(0);
      expect((await call('GET', '/silences?state=expired', 'viewer')).json().total).toBe(1);
      expect((await call('DELETE', `/silences/${silenceId}`, 'editor')).statusCode).toBe(204);
      expect((await call('GET', `/silences/${silenceId}`, 'viewer')).statusCode).toBe(404);
      const actions = (await call('GET', `/audit-log?entity=silence`, 'viewer')).json().items.map((a: { action: string }) => a.action);
      expect(actions).toEqual(['delete', 'update', 'create']);
    });
  });

  describe('rules, preview, test and explain', () => {
    let ruleId: number;
    const rule = {
      name: 'storage',
      priority: 10,
      matchCriteria: { team: 'storage' },
      slackChannel: '#storage',
      messageTemplate: '{{ alert_group.name }} on {{ labels.instance }}: {{ summary }}',
      resolvedMessageTemplate: '{{ alert_group.name }} resolved',
    };

    it('validates templates and criteria when a rule is saved', async () => {
      const bad = await call('POST', '/slack-rules', 'editor', { ...rule, messageTemplate: '{{ alert_group.name ' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().issues[0].path).toBe('messageTemplate');
      expect(bad.json().error).toMatch(/^invalid template: messageTemplate/);
      const badRegex = await call('POST', '/slack-rules', 'editor', { ...rule, matchCriteria: { instance: { regex: '(' } } });
      expect(badRegex.statusCode).toBe(400);
      expect(badRegex.json().issues[0].path).toBe('matchCriteria.instance.regex');
    });

    it('refuses integers outside their column types with 400 naming the field, and stores the extremes that fit', async () => {
      for (const priority of [2_147_483_648, -2_147_483_649, 1e20, 2 ** 53]) {
        for (const kind of ['slack', 'email'] as const) {
          const body =
            kind === 'slack'
              ? { ...rule, name: `big-${kind}`, priority }
              : { name: `big-${kind}`, priority, recipients: ['ops@example.com'], subjectTemplate: 's', bodyTemplate: 'b' };
          const refused = await call('POST', `/${kind}-rules`, 'editor', body);
          expect(refused.statusCode, `${kind} priority ${priority}`).toBe(400);
          expect(refused.json().issues[0].path).toBe('priority');
        }
      }
      for (const priority of [2_147_483_647, -2_147_483_648]) {
        const stored = await call('POST', '/slack-rules', 'editor', { ...rule, name: `edge ${priority}`, priority });
        expect(stored.statusCode).toBe(201);
        expect(stored.json().priority).toBe(priority);
        expect((await call('DELETE', `/slack-rules/${stored.json().id}`, 'editor')).statusCode).toBe(204);
      }
      // Query and path integers: out of range is the caller's error, not the database's.
      for (const url of [
        '/alert-groups?page=2147483648',
        '/alert-groups?page=1e300',
        '/notifications?groupId=1e20',
        '/alert-groups/99999999999999999999',
        '/silences?pageSize=201',
      ]) {
        const refused = await call('GET', url, 'viewer');
        expect(refused.statusCode, url).toBe(400);
        expect(refused.json().error, url).toMatch(/^invalid (querystring|params)/);
      }
    });

    it('creates, reads, updates and refuses a duplicate name', async () => {
      const created = await call('POST', '/slack-rules', 'editor', rule);
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ ...rule, isActive: true, sendResolved: true });
      ruleId = created.json().id;
      expect((await call('POST', '/slack-rules', 'editor', rule)).statusCode).toBe(409);
      const updated = await call('PUT', `/slack-rules/${ruleId}`, 'editor', { ...rule, priority: 20 });
      expect(updated.json().priority).toBe(20);
      expect((await call('GET', '/slack-rules', 'viewer')).json().items).toHaveLength(1);
    });

    it('previews against a real group and sends a test message', async () => {
      const preview = await call('POST', `/slack-rules/${ruleId}/preview`, 'editor', { groupId: groupIds['DiskFull'] });
      expect(preview.json()).toEqual({
        groupId: groupIds['DiskFull'],
        kind: 'firing',
        text: 'DiskFull on db-1: DiskFull is bad',
        failed: false,
        channel: '#storage',
      });
      const test = await call('POST', `/slack-rules/${ruleId}/test`, 'editor', { groupId: groupIds['DiskFull'] });
      expect(test.statusCode).toBe(200);
      expect(test.json()).toMatchObject({ channel: '#storage', delivered: 'slack' });
      const [sent] = await slack.waitForRequests(1);
      expect(sent).toMatchObject({ channel: '#storage', text: '[test of rule "storage"] DiskFull on db-1: DiskFull is bad' });
    });

    it('previews a grouped rule for several groups: one message per group key, its group template rendered once', async () => {
      const grouped = await call('POST', '/slack-rules', 'editor', {
        ...rule,
        name: 'grouped-preview',
        priority: 1,
        groupBy: ['team'],
        messageTemplate: '{{ title }}{% for a in alerts %} | {{ a.labels.instance }} {{ a.status }}{% endfor %}',
      });
      expect(grouped.statusCode).toBe(201);
      const id = grouped.json().id;
      const groups = [groupIds['HighCPU'], groupIds['OldNews'], groupIds['DiskFull']];
      const preview = await call('POST', `/slack-rules/${id}/group-preview`, 'editor', { groupIds: groups, kind: 'firing' });
      expect(preview.statusCode).toBe(200);
      expect(preview.json().messages).toEqual([
        {
          groupKey: '[["team","web"]]',
          groupLabels: { team: 'web' },
          groupIds: [groupIds['HighCPU'], groupIds['OldNews']],
          rendered: 'group',
          text: '[FIRING:2] (team=web) | web-1 firing | web-2 firing',
          failed: false,
          channel: '#storage',
        },
        {
          groupKey: '[["team","storage"]]',
          groupLabels: { team: 'storage' },
          groupIds: [groupIds['DiskFull']],
          rendered: 'group',
          text: '[FIRING:1] DiskFull (team=storage) | db-1 firing',
          failed: false,
          channel: '#storage',
        },
      ]);
      // Every alert as resolved: the rule's resolved template, which is per-alert, under the title.
      const resolved = await call('POST', `/slack-rules/${id}/group-preview`, 'editor', { groupIds: [groupIds['DiskFull']], kind: 'resolved' });
      expect(resolved.json().messages[0]).toMatchObject({ rendered: 'per-alert', text: '[RESOLVED:1] DiskFull (team=storage)\n• DiskFull resolved' });
      const ungrouped = await call('POST', `/slack-rules/${ruleId}/group-preview`, 'editor', { groupIds: groups });
      expect(ungrouped.statusCode).toBe(400);
      expect(ungrouped.json().error).toBe(`slack rule ${ruleId} has no groupBy: each alert is its own message (use /preview)`);
      expect((await call('POST', `/slack-rules/${id}/group-preview`, 'editor', { groupIds: [999_999] })).statusCode).toBe(404);
      expect((await call('POST', `/slack-rules/${id}/group-preview`, 'editor', { groupIds: [] })).statusCode).toBe(400);
      expect((await call('POST', `/slack-rules/${id}/group-preview`, 'viewer', { groupIds: groups })).statusCode).toBe(403);
      expect((await call('DELETE', `/slack-rules/${id}`, 'editor')).statusCode).toBe(204);
    });

    it('previews a rule that is not saved yet, IP replacement included, and validates its templates', async () => {
      const draft = { ...rule, name: 'draft', messageTemplate: '{{ alert_group.name }} from 10.1.2.3 and fe80::1 - {{ summary }}', replaceIpAddresses: true };
      const preview = await call('POST', '/slack-rules/preview', 'editor', { rule: draft, groupId: groupIds['DiskFull'] });
      expect(preview.statusCode).toBe(200);
      expect(preview.json()).toMatchObject({ kind: 'firing', text: 'DiskFull from IP and IP - DiskFull is bad', channel: '#storage', failed: false });
      const broken = await call('POST', '/slack-rules/preview', 'editor', { rule: { ...draft, messageTemplate: '{% if %}' }, groupId: groupIds['DiskFull'] });
      expect(broken.statusCode).toBe(400);
      expect(broken.json().issues[0].path).toBe('messageTemplate');
      expect((await call('GET', '/slack-rules', 'viewer')).json().items.map((r: { name: string }) => r.name)).not.toContain('draft');
    });

    it('creates email rules with validated recipients and templates, and previews them', async () => {
      const bad = await call('POST', '/email-rules', 'editor', { name: 'mail', recipients: ['not-an-address'], subjectTemplate: 'x', bodyTemplate: 'y' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().issues[0]).toMatchObject({ path: 'recipients.0' });
      const created = await call('POST', '/email-rules', 'editor', {
        name: 'mail',
        matchCriteria: { severity: 'critical' },
        recipients: ['ops@example.com'],
        subjectTemplate: '[{{ alert_group.severity }}] {{ alert_group.name }}',
        bodyTemplate: '{{ description }}',
      });
      expect(created.statusCode).toBe(201);
      const preview = (await call('POST', `/email-rules/${created.json().id}/preview`, 'editor', { groupId: groupIds['DiskFull'] })).json();
      expect(preview).toMatchObject({ subject: '[critical] DiskFull', text: 'No description provided.', failed: false });
      const test = await call('POST', `/email-rules/${created.json().id}/test`, 'editor', { groupId: groupIds['DiskFull'] });
      expect(test.statusCode).toBe(202);
      const queued = await database.db
        .selectFrom('email_queue')
        .select(['status', 'kind', 'subject', 'recipients'])
        .where('id', '=', test.json().emailId)
        .executeTakeFirstOrThrow();
      expect(queued).toEqual({ status: 'pending', kind: 'test', subject: '[test of rule "mail"] [critical] DiskFull', recipients: ['ops@example.com'] });
    });

    it('explains what would happen for a set of labels', async () => {
      const explained = await call('POST', '/explain', 'editor', { labels: { alertname: 'DiskFull', team: 'web', instance: 'db-9' } });
      expect(explained.statusCode).toBe(200);
      const body = explained.json();
      expect(body.fingerprint).toMatch(/^[0-9a-f]{16}$/);
      expect(body.groupId).toBeNull();
      expect(body.slack.rules).toEqual([
        {
          id: ruleId,
          name: 'storage',
          priority: 20,
          isActive: true,
          continue: false,
          matched: false,
          outcome: 'no-match',
          reason: 'team: expected "storage", got "web"',
        },
      ]);
      expect(body.slack.winner).toBeNull();
      const matched = (
        await call('POST', '/explain', 'editor', { labels: { alertname: 'DiskFull', team: 'storage', instance: 'db-9', severity: 'critical' } })
      ).json();
      expect(matched.slack).toMatchObject({ winner: 'storage', channel: '#storage', text: 'DiskFull on db-9: DiskFull' });
      expect(matched.email).toMatchObject({ winner: 'mail', recipients: ['ops@example.com'], subject: '[critical] DiskFull' });
    });

    it('deletes a rule', async () => {
      expect((await call('DELETE', `/slack-rules/${ruleId}`, 'editor')).statusCode).toBe(204);
      expect((await call('GET', `/slack-rules/${ruleId}`, 'viewer')).statusCode).toBe(404);
    });
  });

  describe('notifications, email queue and OpenAPI', () => {
    it('lists notifications with filters', async () => {
      const groupId = groupIds['DiskFull'] ?? 0;
      const instance = await database.db.selectFrom('alert_instances').select('id').where('group_id', '=', groupId).executeTakeFirstOrThrow();
      await database.db
        .insertInto('notifications')
        .values([
          {
            channel: '#storage',
            group_id: groupId,
            instance_id: instance.id,
            kind: 'firing',
            status: 'sent',
            text: 'sent one',
            attempts: 1,
            delivered_via: 'sink',
          },
          {
            channel: '#storage',
            group_id: groupId,
            instance_id: instance.id,
            kind: 'resolved',
            status: 'failed',
            text: 'failed one',
            attempts: 5,
            last_error: 'channel_not_found',
          },
        ])
        .execute();
      const failed = (await call('GET', '/notifications?status=failed', 'viewer')).json();
      expect(failed.items.map((n: { text: string; lastError: string }) => [n.text, n.lastError])).toEqual([['failed one', 'channel_not_found']]);
      expect((await call('GET', `/notifications?groupId=${groupId}`, 'viewer')).json().total).toBe(2);
      const sink = (await call('GET', '/notifications?deliveredVia=sink', 'viewer')).json();
      expect(sink.items.map((n: { text: string; deliveredVia: string }) => [n.text, n.deliveredVia])).toEqual([['sent one', 'sink']]);
    });

    it('requeues only failed emails', async () => {
      const [failed, done] = await database.db
        .insertInto('email_queue')
        .values([
          { kind: 'firing', recipients: ['ops@example.com'], subject: 's', body_text: 'b', status: 'failed', last_error: 'connection refused' },
          { kind: 'firing', recipients: ['ops@example.com'], subject: 's', body_text: 'b', status: 'completed' },
        ])
        .returning('id')
        .execute();
      expect((await call('POST', `/email-queue/${failed?.id}/requeue`, 'viewer')).statusCode).toBe(403);
      const requeued = await call('POST', `/email-queue/${failed?.id}/requeue`, 'editor');
      expect(requeued.statusCode).toBe(202);
      expect(
        await database.db
          .selectFrom('email_queue')
          .select(['status', 'last_error'])
          .where('id', '=', failed?.id ?? 0)
          .executeTakeFirstOrThrow(),
      ).toEqual({ status: 'pending', last_error: null });
      const refused = await call('POST', `/email-queue/${done?.id}/requeue`, 'editor');
      expect(refused.statusCode).toBe(409);
      expect((await call('GET', '/email-queue?status=pending', 'viewer')).json().items.map((e: { id: number }) => e.id)).toContain(failed?.id);
      expect(
        await database.db
          .selectFrom('email_queue')
          .select(['attempts'])
          .where('id', '=', failed?.id ?? 0)
          .executeTakeFirstOrThrow(),
      ).toEqual({ attempts: 0 });
    });

    it('requeues many failed emails at once, and only failed ones', async () => {
      const rows = await database.db
        .insertInto('email_queue')
        .values([
          { kind: 'firing', recipients: ['a@example.com'], subject: 'f1', body_text: 'b', status: 'failed', attempts: 5 },
          { kind: 'firing', recipients: ['a@example.com'], subject: 'f2', body_text: 'b', status: 'failed', attempts: 5 },
          { kind: 'firing', recipients: ['a@example.com'], subject: 'c', body_text: 'b', status: 'completed' },
        ])
        .returning('id')
        .execute();
      const response = await call('POST', '/email-queue/requeue', 'editor', { ids: rows.map((r) => r.id) });
      expect(response.statusCode).toBe(202);
      expect(response.json().requeued).toEqual(rows.slice(0, 2).map((r) => r.id));
      expect((await call('POST', '/email-queue/requeue', 'editor', { ids: [] })).json().issues[0].message).toBe('name at least one email');
    });

    it('serves the console with headers that keep it out of frames and scripts to its own', async () => {
      const page = await app.inject({ method: 'GET', url: '/' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
    });

    it('publishes an OpenAPI document with every route', async () => {
      const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/api/v1/alert-groups',
          '/api/v1/alert-groups/{id}/resolve',
          '/api/v1/silences/{id}/matches',
          '/api/v1/slack-rules/{id}/preview',
          '/api/v1/email-rules/{id}/preview',
          '/api/v1/explain',
          '/api/v1/email-queue/{id}/requeue',
          '/api/v1/api-keys',
          '/api/v1/audit-log',
        ]),
      );
    });
  });
});
