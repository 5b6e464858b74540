import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { refusedTagMessage } from '@sentryhub/rules';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, startSlackMock, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

const logger = createLogger('admin-template-sandbox-test', 'silent');
const ADMIN = 'bootstrap-admin-key-template-sandbox';
const SECRET = `SENTRYHUB_ADMIN_TEMPLATE_SECRET_${process.pid}_${Date.now()}`;

/**
 * Through the admin's HTTP API on a real PostgreSQL: a template that would load a file is
 * refused when a rule is saved or previewed (400 naming the tag), a rule stored with one
 * anyway (by hand, or before this check) renders the safe default, and no file's content ever
 * appears. The files sit in the process's working directory, where liquidjs's default file
 * system would look.
 */
describe('admin: templates cannot reach files (real PostgreSQL)', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let slack: SlackMock;
  let app: FastifyInstance;
  let dir = '';
  let previousCwd = '';
  let groupId = 0;

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
    app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${ADMIN}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  const slackRule = (name: string, messageTemplate: string, resolvedMessageTemplate: string | null = null) => ({
    name,
    priority: 1,
    matchCriteria: {},
    slackChannel: '#sandbox',
    messageTemplate,
    resolvedMessageTemplate,
  });
  const emailRule = (name: string, subjectTemplate: string, bodyTemplate: string) => ({
    name,
    priority: 1,
    matchCriteria: {},
    recipients: ['ops@example.com'],
    subjectTemplate,
    bodyTemplate,
  });

  /** include/render/layout with literal, quoted, absolute, relative and dynamic file names. */
  function loadingTemplates(): { template: string; tag: string }[] {
    const absolute = join(dir, 'secret.env');
    const names = [
      '"secret.env"',
      "'docker/.env'",
      '"./secret.env"',
      '"sub/../secret.env"',
      '"../secret.env"',
      `"${absolute}"`,
      `"${relative(previousCwd, absolute)}"`,
      '"/etc/passwd"',
      'labels.partial',
      '{{ labels.partial }}',
    ];
    return ['include', 'render', 'layout'].flatMap((tag) => [
      ...names.map((name) => ({ template: `Alert {{ alert_group.name }} {% ${tag} ${name} %}`, tag })),
      { template: `{% liquid\n ${tag} "secret.env"\n%}`, tag },
    ]);
  }

  beforeAll(async () => {
    [database, vhost, slack] = await Promise.all([createTestDatabase('admin_tpl_sandbox'), createTestVhost('admin_tpl_sandbox'), startSlackMock()]);
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(ADMIN);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => messaging,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('admin-tpl-test'),
      slackEndpoint: slack.url,
      defaultChannel: '#general',
    });
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: 'abcdef0123456789',
        name: 'DiskFull',
        labels: JSON.stringify({ alertname: 'DiskFull', partial: 'secret.env' }),
        severity: 'critical',
        instance: 'db-1',
        source: 'webhook',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: '2026-11-26T08:00:00Z',
        last_occurrence: '2026-11-26T08:00:00Z',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    groupId = group.id;
    await database.db
      .insertInto('alert_instances')
      .values({
        group_id: groupId,
        status: 'firing',
        starts_at: '2026-11-26T08:00:00Z',
        ends_at: null,
        annotations: JSON.stringify({ summary: 'disk full' }),
        resolution_type: null,
      })
      .execute();
    previousCwd = process.cwd();
    dir = mkdtempSync(join(tmpdir(), 'sentryhub-admin-template-'));
    writeFileSync(join(dir, 'secret.env'), SECRET);
    mkdirSync(join(dir, 'docker'));
    writeFileSync(join(dir, 'docker', '.env'), SECRET);
    mkdirSync(join(dir, 'sub'));
    process.chdir(dir);
  });

  afterAll(async () => {
    if (previousCwd) process.chdir(previousCwd);
    if (dir) rmSync(dir, { recursive: true, force: true });
    await app?.close();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy(), slack?.close()]);
  });

  it('refuses them when a Slack or email rule is created or updated: 400 naming the tag and the field, nothing stored', async () => {
    const good = await call('POST', '/slack-rules', slackRule('good', 'Alert {{ alert_group.name }}'));
    expect(good.statusCode).toBe(201);
    const goodEmail = await call('POST', '/email-rules', emailRule('good-email', '{{ alert_group.name }}', 'body'));
    expect(goodEmail.statusCode).toBe(201);
    let n = 0;
    for (const { template, tag } of loadingTemplates()) {
      n += 1;
      const attempts = [
        { response: await call('POST', '/slack-rules', slackRule(`evil-${n}`, template)), field: 'messageTemplate' },
        { response: await call('POST', '/slack-rules', slackRule(`evil-r-${n}`, 'ok', template)), field: 'resolvedMessageTemplate' },
        { response: await call('PUT', `/slack-rules/${good.json().id}`, slackRule('good', template)), field: 'messageTemplate' },
        { response: await call('POST', '/email-rules', emailRule(`evil-${n}`, template, 'body')), field: 'subjectTemplate' },
        { response: await call('POST', '/email-rules', emailRule(`evil-b-${n}`, 'subject', template)), field: 'bodyTemplate' },
        { response: await call('PUT', `/email-rules/${goodEmail.json().id}`, emailRule('good-email', template, 'body')), field: 'subjectTemplate' },
      ];
      for (const { response, field } of attempts) {
        expect(response.statusCode, template).toBe(400);
        expect(response.json().error, template).toContain(`invalid template: ${field}: template does not parse: ${refusedTagMessage(tag)}`);
        expect(response.body).not.toContain(SECRET);
      }
    }
    expect((await database.db.selectFrom('slack_rules').select('name').execute()).map((r) => r.name)).toEqual(['good']);
    expect((await database.db.selectFrom('email_rules').select('name').execute()).map((r) => r.name)).toEqual(['good-email']);
    const stored = await database.db.selectFrom('slack_rules').select('message_template').executeTakeFirstOrThrow();
    expect(stored.message_template).toBe('Alert {{ alert_group.name }}');
  });

  it('refuses them in the live preview of an unsaved rule: 400 naming the tag, no file content', async () => {
    for (const { template, tag } of loadingTemplates()) {
      const slackPreview = await call('POST', '/slack-rules/preview', { rule: slackRule('draft', template), groupId });
      expect(slackPreview.statusCode, template).toBe(400);
      expect(slackPreview.json().error).toContain(refusedTagMessage(tag));
      expect(slackPreview.body).not.toContain(SECRET);
      const emailPreview = await call('POST', '/email-rules/preview', { rule: emailRule('draft', 'subject', template), groupId });
      expect(emailPreview.statusCode, template).toBe(400);
      expect(emailPreview.json().error).toContain(refusedTagMessage(tag));
      expect(emailPreview.body).not.toContain(SECRET);
    }
  });

  it('a rule stored with such a template anyway renders the safe default: preview and test send read nothing', async () => {
    const template = '{% include "secret.env" %}{% render "docker/.env" %}';
    const slackRow = await database.db
      .insertInto('slack_rules')
      .values({
        name: 'hand-written',
        priority: 0,
        match_criteria: JSON.stringify({}),
        slack_channel: '#sandbox',
        message_template: template,
        resolved_message_template: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const preview = await call('POST', `/slack-rules/${slackRow.id}/preview`, { groupId });
    expect(preview.statusCode).toBe(200);
    expect(preview.json()).toMatchObject({ failed: true, error: expect.stringContaining(refusedTagMessage('include')) });
    expect(preview.json().text).toContain('template of rule "hand-written" failed to render');
    expect(preview.body).not.toContain(SECRET);

    const sent = await call('POST', `/slack-rules/${slackRow.id}/test`, { groupId });
    expect(sent.statusCode).toBe(200);
    expect(sent.body).not.toContain(SECRET);
    const delivered = await slack.waitForRequests(1);
    expect(delivered.at(-1)?.text).toContain('failed to render');
    expect(delivered.every((request) => !request.text.includes(SECRET))).toBe(true);

    const emailRow = await database.db
      .insertInto('email_rules')
      .values({
        name: 'hand-written-email',
        priority: 0,
        match_criteria: JSON.stringify({}),
        recipients: ['ops@example.com'],
        subject_template: '{% layout "secret.env" %}',
        body_template: template,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const emailPreview = await call('POST', `/email-rules/${emailRow.id}/preview`, { groupId });
    expect(emailPreview.statusCode).toBe(200);
    expect(emailPreview.json()).toMatchObject({ failed: true, error: expect.stringContaining(refusedTagMessage('layout')) });
    expect(emailPreview.body).not.toContain(SECRET);
    const emailTest = await call('POST', `/email-rules/${emailRow.id}/test`, { groupId });
    expect(emailTest.statusCode).toBe(202);
    const queued = await database.db
      .selectFrom('email_queue')
      .select(['subject', 'body_text'])
      .where('id', '=', emailTest.json().emailId)
      .executeTakeFirstOrThrow();
    expect(`${queued.subject}\n${queued.body_text}`).not.toContain(SECRET);
    expect(queued.body_text).toContain('failed to render');
  });

  it('regexes are checked with RE2 when a rule or silence is saved: 400 naming the problem; linear-time patterns accepted', async () => {
    const lookahead = await call('POST', '/slack-rules', { ...slackRule('lookahead', 'x'), matchCriteria: { instance: { regex: '(?=db)db-.*' } } });
    expect(lookahead.statusCode).toBe(400);
    expect(lookahead.json().issues[0]).toEqual({
      path: 'matchCriteria.instance.regex',
      message: 'invalid regular expression: invalid or unsupported Perl syntax: `(?=`',
    });
    const backreference = await call('POST', '/email-rules', { ...emailRule('backref', 's', 'b'), matchCriteria: { instance: { notRegex: '(a)\\1' } } });
    expect(backreference.statusCode).toBe(400);
    expect(backreference.json().issues[0].message).toBe('invalid regular expression: invalid escape sequence: `\\1`');
    const silence = {
      matchers: [{ name: 'instance', value: '(?!db)', isEqual: true, isRegex: true }],
      startsAt: new Date(Date.now() - 60_000).toISOString(),
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      createdBy: 'alice',
      comment: 'c',
    };
    const badSilence = await call('POST', '/silences', silence);
    expect(badSilence.statusCode).toBe(400);
    expect(badSilence.json().issues[0]).toEqual({
      path: 'matchers.0.value',
      message: 'invalid regular expression "(?!db)": invalid or unsupported Perl syntax: `(?!`',
    });
    // Once refused as "catastrophic", now fine: RE2 runs them in linear time.
    const nested = await call('POST', '/slack-rules', {
      ...slackRule('nested', 'x'),
      matchCriteria: { instance: { regex: '(a+)+$' }, team: { regex: '(.*.*){1,20}x' } },
    });
    expect(nested.statusCode).toBe(201);
    const goodSilence = await call('POST', '/silences', { ...silence, matchers: [{ name: 'instance', value: '(db|web)+-.*', isEqual: true, isRegex: true }] });
    expect(goodSilence.statusCode).toBe(201);
  });
});
