import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HEADERS, QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { fingerprint } from '@sentryhub/alert-identity';
import { createLogger, createMetricsRegistry, parseWebhookReceivers, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, startSlackMock, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

/**
 * The console in a real headless Chromium (Debian's, driven by playwright-core): log in, create
 * a Slack rule through the form and preview it, acknowledge a firing alert, silence it and see
 * it shown as silenced. A screenshot of each page lands in test-output/console/.
 */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../../test-output/console/', import.meta.url));
const BOOTSTRAP = 'console-e2e-admin-key-0123456789';
const logger = createLogger('console-e2e', 'silent');
const MANAGEMENT_URL = process.env['TEST_RABBITMQ_MANAGEMENT_URL'] ?? 'http://127.0.0.1:15672';

describe('the web console in headless Chromium', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let slack: SlackMock;
  let app: FastifyInstance;
  let context: BrowserContext;
  let page: Page;
  let base = '';
  let viewerKey = '';
  let userDataDir = '';
  const groupIds: Record<string, number> = {};
  const fingerprints: Record<string, string> = {};
  const pageErrors: string[] = [];
  const requestedUrls: string[] = [];

  async function seedGroup(name: string, labels: Record<string, string>, status: 'firing' | 'resolved', minutesAgo: number) {
    const at = new Date(Date.now() - minutesAgo * 60_000);
    const allLabels = { alertname: name, ...labels };
    const print = fingerprint(allLabels);
    fingerprints[name] = print;
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: print,
        name,
        labels: JSON.stringify(allLabels),
        severity: labels['severity'] ?? 'warning',
        instance: labels['instance'] ?? null,
        source: 'webhook',
        current_status: status,
        firing_count: 1,
        first_occurrence: at,
        last_occurrence: at,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const instance = await database.db
      .insertInto('alert_instances')
      .values({
        group_id: group.id,
        status,
        starts_at: at,
        ends_at: status === 'resolved' ? new Date(at.getTime() + 60_000) : null,
        annotations: JSON.stringify({ summary: `${name} is bad`, description: `Runbook: fix ${name}.` }),
        resolution_type: status === 'resolved' ? 'normal' : null,
        intake_source: 'webhook',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    groupIds[name] = group.id;
    return { groupId: group.id, instanceId: instance.id };
  }

  /** A full-page screenshot, without the toasts of earlier steps drawn over the page. */
  async function shot(name: string) {
    await page.locator('#toasts').evaluate((region) => region.replaceChildren());
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }
  /** Waits until the locator shows the text; fails with what was there instead. */
  async function see(locator: Locator, text: string | RegExp) {
    try {
      await locator.filter({ hasText: text }).first().waitFor({ state: 'visible' });
    } catch {
      const actual = (await locator.allInnerTexts()).join(' | ').slice(0, 500);
      throw new Error(`expected ${String(text)} in ${locator.toString()}, saw: ${actual || '(nothing)'}`);
    }
  }
  const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });
  const go = async (hash: string) => {
    await page.goto(`${base}/${hash}`);
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
    [database, vhost, slack] = await Promise.all([createTestDatabase('console'), createTestVhost('console'), startSlackMock()]);
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    viewerKey = (await store.create('watcher', 'viewer')).key;
    // One webhook receiver (never called here): the webhook rule form offers it.
    const webhookReceivers = parseWebhookReceivers('pagerduty:\n  url: http://127.0.0.1:9/v2/enqueue\n  params:\n    routingKey: { env: PD_ROUTING_KEY }\n');
    // Queue management on, against the test vhost: the queues page lists the topology the connection above declared.
    const management = {
      enabled: true,
      url: MANAGEMENT_URL,
      user: 'guest',
      password: 'guest',
      vhost: vhost.vhost,
      amqpUrl: vhost.url,
      publishTimeoutMs: 5_000,
    };
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => messaging,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('console-e2e'),
      slackEndpoint: slack.url,
      defaultChannel: '#general',
      webhookReceivers,
      management,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    const disk = await seedGroup('DiskFull', { severity: 'critical', instance: 'db-1', team: 'storage' }, 'firing', 12);
    const cpu = await seedGroup('HighCPU', { severity: 'warning', instance: 'web-1', team: 'web' }, 'firing', 5);
    await seedGroup('OldNews', { severity: 'info', instance: 'web-2', team: 'web' }, 'resolved', 180);
    await database.db
      .insertInto('notifications')
      .values([
        {
          channel: '#storage',
          group_id: disk.groupId,
          instance_id: disk.instanceId,
          kind: 'firing',
          status: 'sent',
          text: 'FIRING: DiskFull on db-1: DiskFull is bad',
          attempts: 1,
          sent_at: new Date(),
        },
        {
          channel: '#ops',
          group_id: cpu.groupId,
          instance_id: cpu.instanceId,
          kind: 'firing',
          status: 'failed',
          text: 'HighCPU on web-1',
          attempts: 5,
          last_error: 'channel_not_found',
        },
      ])
      .execute();
    await database.db
      .insertInto('email_queue')
      .values([
        {
          kind: 'firing',
          group_id: disk.groupId,
          recipients: ['ops@example.com'],
          subject: '[critical] DiskFull is firing',
          body_text: 'b',
          status: 'failed',
          attempts: 3,
          last_error: 'connection refused',
        },
        {
          kind: 'firing',
          group_id: disk.groupId,
          recipients: ['ops@example.com'],
          subject: '[critical] DiskFull is firing',
          body_text: 'b',
          status: 'completed',
          attempts: 1,
          sent_at: new Date(),
        },
      ])
      .execute();

    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    userDataDir = mkdtempSync(join(tmpdir(), 'sentryhub-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 900 },
      timezoneId: 'UTC',
      locale: 'en-GB',
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(8_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => requestedUrls.push(request.url()));
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await app?.close();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy(), slack?.close()]);
  });

  it('logs in by API key: a wrong key is refused next to the field, the right one opens the dashboard', async () => {
    await go('');
    await heading('Log in to the console').waitFor();
    await shot('01-login');
    await page.getByLabel('API key').fill('shk_not-a-real-key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await see(page.locator('.login .field-error'), 'was not accepted');
    await page.getByLabel('API key').fill(BOOTSTRAP);
    await page.getByRole('button', { name: 'Log in' }).click();
    await heading('Dashboard').waitFor();
    await see(page.locator('#who'), 'admin key');
    const card = (label: string) => page.locator('.card', { has: page.locator('.card-label', { hasText: new RegExp(`^${label}$`) }) }).locator('.card-value');
    expect(await card('Firing').innerText()).toBe('2');
    expect(await card('Firing, unacknowledged').innerText()).toBe('2');
    expect(await card('Firing, silenced').innerText()).toBe('0');
    expect(await card('Firing critical').innerText()).toBe('1');
    await see(page.getByRole('table', { name: 'Newest firing alert groups' }).locator('tbody tr'), 'HighCPU');
    expect(await page.evaluate(() => sessionStorage.getItem('sentryhub.apiKey'))).toBe(BOOTSTRAP);
    await shot('02-dashboard');
  });

  it('creates a Slack rule through the form, shows template errors by the field, and previews it against a real group', async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Slack rules' }).click();
    await heading('Slack rules').waitFor();
    await see(page.locator('.empty'), 'No slack rules yet');
    await page.getByRole('link', { name: 'New Slack rule' }).click();
    await heading('New Slack rule').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('storage on-call');
    await page.getByLabel('Priority').fill('10');
    await page.getByLabel(/^Channel/).fill('#storage');
    await page.getByRole('button', { name: '+ Add criterion' }).click();
    await page.getByLabel('Label name', { exact: true }).fill('team');
    await page.getByLabel('Value', { exact: true }).fill('storage');
    await page.getByLabel('Message template', { exact: true }).fill('{{ alert_group.name } on {{ labels.instance }}');
    await page.getByRole('button', { name: 'Create rule' }).click();
    // The API's {error, issues} lands next to the template field.
    await see(page.locator('.field:has(#rule-message) .field-error'), 'template does not parse');
    expect(await page.locator('#rule-message').getAttribute('aria-invalid')).toBe('true');
    await shot('03-slack-rule-invalid');

    await page.getByLabel('Message template', { exact: true }).fill('{{ alert_group.name }} on {{ labels.instance }}: {{ summary }}');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await heading('storage on-call').waitFor();
    expect(page.url()).toMatch(/#\/slack-rules\/\d+$/);
    await page.getByLabel('Alert group').selectOption({ label: 'DiskFull (db-1) · firing' });
    await see(page.locator('#preview-text'), 'DiskFull on db-1: DiskFull is bad');
    await see(page.locator('#preview-output'), 'To #storage, firing message');
    await see(page.locator('#preview-output'), 'matches this group and wins');
    await page.getByLabel('Message for').selectOption('resolved');
    await see(page.locator('#preview-output'), 'To #storage, resolved message');

    await page.getByRole('button', { name: 'Send test message' }).click();
    await see(page.locator('.result-line[role="status"]'), 'sent to #storage via Slack');
    const [sent] = await slack.waitForRequests(1, 5_000);
    expect(sent).toMatchObject({ channel: '#storage', text: '[test of rule "storage on-call"] DiskFull on db-1: DiskFull is bad' });
    await shot('04-slack-rule-preview');
  });

  it('lists the new rule', async () => {
    await page.getByRole('link', { name: 'Back to the list' }).click();
    await heading('Slack rules').waitFor();
    const row = page.locator('tbody tr', { hasText: 'storage on-call' });
    await see(row, 'team="storage"');
    await see(row, '#storage');
    expect(await row.locator('td').first().innerText()).toBe('10');
    await shot('05-slack-rules');
  });

  it('previews a grouped Slack rule: the ticked alert groups make one [FIRING:n] message per group key, listing its alerts', async () => {
    await go('#/slack-rules');
    await heading('Slack rules').waitFor();
    await page.getByRole('link', { name: 'New Slack rule' }).click();
    await heading('New Slack rule').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('grouped by team');
    await page.getByLabel(/^Group by/).fill('team');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await heading('grouped by team').waitFor();
    const output = page.locator('#group-preview-output');
    // Every alert group ticked, each as its current status: HighCPU fires, OldNews resolved, both team=web.
    await see(output, '[FIRING:1, RESOLVED:1] (team=web)');
    await see(output, '[FIRING:1] DiskFull (team=storage)');
    await page.getByLabel('Message for').selectOption('firing');
    await see(output.locator('pre'), '[FIRING:2] (team=web)\n• FIRING: HighCPU on web-1: HighCPU is bad\n• FIRING: OldNews on web-2: OldNews is bad');
    await see(output, 'team=web · 2 alerts · to #general');
    await page.getByLabel('OldNews (web-2) · resolved').uncheck();
    await see(output.locator('pre'), '[FIRING:1] HighCPU (team=web)\n• FIRING: HighCPU on web-1: HighCPU is bad');
    expect(await output.locator('pre').count()).toBe(2);
    await shot('05-slack-rule-grouped-preview');
    await database.db.deleteFrom('slack_rules').where('name', '=', 'grouped by team').execute();
  });

  it('creates a webhook rule from a preset (the preset fills the body, the preview renders its JSON) and lists it', async () => {
    const navigation = page.getByRole('navigation', { name: 'Console' });
    await navigation.getByRole('link', { name: 'Receivers' }).click();
    await heading('Receivers').waitFor();
    await see(page.locator('tbody tr', { hasText: 'pagerduty' }), 'routingKey');
    await navigation.getByRole('link', { name: 'Webhook rules' }).click();
    await heading('Webhook rules').waitFor();
    await page.getByRole('link', { name: 'New webhook rule' }).click();
    await heading('New webhook rule').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('pagerduty critical');
    await page.getByLabel('Receiver', { exact: true }).selectOption('pagerduty');
    await page.getByLabel(/^Preset/).selectOption('pagerduty');
    expect(await page.locator('#rule-webhook-body').inputValue()).toContain('"routing_key": {{ receiver.params.routingKey | json }}');
    await page.getByLabel('Alert group').selectOption({ label: 'DiskFull (db-1) · firing' });
    await see(page.locator('#preview-text'), '"event_action": "trigger"');
    await see(page.locator('#preview-output'), 'POST to receiver pagerduty, firing body');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await heading('pagerduty critical').waitFor();
    expect(page.url()).toMatch(/#\/webhook-rules\/\d+$/);
    await page.getByRole('link', { name: 'Back to the list' }).click();
    await heading('Webhook rules').waitFor();
    await see(page.locator('tbody tr', { hasText: 'pagerduty critical' }), 'pagerduty preset');
    // Saved unchanged, the rule follows the preset rather than a copy of its template.
    expect(await database.db.selectFrom('webhook_rules').select(['name', 'receiver', 'preset', 'body_template']).execute()).toEqual([
      { name: 'pagerduty critical', receiver: 'pagerduty', preset: 'pagerduty', body_template: null },
    ]);
    await shot('05-webhook-rules');
  });

  it('filters the alert list and acknowledges the firing alert with a comment', async () => {
    await go('#/alerts?status=firing&severity=critical');
    await heading('Alerts').waitFor();
    await see(page.locator('.panel-head .count'), '1 found');
    expect(await page.locator('tbody tr').count()).toBe(1);
    await shot('06-alerts-filtered');
    await page.getByRole('link', { name: 'DiskFull' }).click();
    await heading('DiskFull').waitFor();
    await page.locator('#ack-comment').fill('on it, swapping the disk');
    await page.getByRole('button', { name: 'Acknowledge', exact: true }).click();
    await see(page.locator('.page-head .badge'), 'Acknowledged');
    const history = page.locator('section', { has: page.getByRole('heading', { name: 'Acknowledgement history' }) });
    await see(history.locator('li'), 'on it, swapping the disk');
    await see(history.locator('li'), 'key:bootstrap');
    await page.getByRole('button', { name: 'Unacknowledge', exact: true }).waitFor();
    await shot('07-alert-acknowledged');
  });

  it('creates a silence for it: a bad regex is shown by its field, the preview and the server agree', async () => {
    await page.getByRole('link', { name: 'Silence this alert…' }).click();
    await heading('New silence').waitFor();
    // Prefilled from the group's labels; keep alertname, make instance a regex, drop the rest.
    const rows = page.locator('.matcher-row');
    expect(await rows.count()).toBe(4);
    const names = await Promise.all([0, 1, 2, 3].map((i) => rows.nth(i).locator('input').first().inputValue()));
    expect(names).toEqual(['alertname', 'instance', 'severity', 'team']);
    await rows.nth(3).getByRole('button', { name: 'Remove this matcher' }).click();
    await rows.nth(2).getByRole('button', { name: 'Remove this matcher' }).click();
    const instanceRow = rows.nth(1);
    expect(await instanceRow.locator('input').first().inputValue()).toBe('instance');
    await instanceRow.locator('select').selectOption('=~');
    await instanceRow.locator('input').nth(1).fill('db-(');
    await page.getByLabel('Created by').fill('e2e');
    await page.getByLabel('Comment', { exact: true }).fill('disk swap, INC-42');
    await page.getByRole('button', { name: 'Create silence' }).click();
    await see(instanceRow.locator('.field-error'), 'invalid regular expression');
    await shot('08-silence-invalid');

    await instanceRow.locator('input').nth(1).fill('db-.*');
    await see(page.locator('#would-match + *'), '1 of 2 firing groups match');
    await page.getByRole('button', { name: '4h' }).click();
    await see(page.locator('.split .hint'), 'Lasts 4 h');
    await page.getByRole('button', { name: 'Create silence' }).click();
    await heading(/^Silence \d+$/).waitFor();
    const now = page.locator('section', { has: page.getByRole('heading', { name: 'Silencing now' }) });
    await see(now.locator('tbody tr'), 'DiskFull');
    expect(await now.locator('tbody tr').count()).toBe(1);
    await shot('09-silence');

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Silences' }).click();
    await heading('Silences').waitFor();
    const row = page.locator('tbody tr', { hasText: 'disk swap, INC-42' });
    await see(row, 'instance=~"db-.*"');
    await see(row.locator('.badge'), 'active');
    await row.getByText('Show groups').click();
    await see(row.locator('details li'), 'DiskFull');
    await shot('10-silences');
  });

  it('takes Alertmanager\'s matcher syntax in a label field: a silence from {alertname="X",instance=~"h.*"}, an inhibition rule from bare and braced matchers', async () => {
    await go('#/silences/new');
    await heading('New silence').waitFor();
    const rows = page.locator('.matcher-row');
    const rowValues = async () =>
      Promise.all(
        (await rows.all()).map(async (row) => [
          await row.locator('input').first().inputValue(),
          await row.locator('select').inputValue(),
          await row.locator('input').nth(1).inputValue(),
        ]),
      );
    // A text the parser refuses stays as typed, with the parser's message under the row.
    await rows.first().locator('input').first().fill('{alertname="X", instance=~"h.("}');
    await rows.first().locator('input').first().press('Tab');
    await see(rows.first().locator('.field-error'), 'invalid regular expression');
    expect(await rows.count()).toBe(1);

    await rows.first().locator('input').first().fill('{alertname="X",instance=~"h.*"}');
    await rows.first().locator('input').first().press('Tab');
    await rows.nth(1).waitFor();
    expect(await rowValues()).toEqual([
      ['alertname', '=', 'X'],
      ['instance', '=~', 'h.*'],
    ]);
    expect(await rows.first().locator('.field-error').count()).toBe(0);
    await page.getByLabel('Created by').fill('e2e');
    await page.getByLabel('Comment', { exact: true }).fill('pasted matchers');
    await page.getByRole('button', { name: 'Create silence' }).click();
    await heading(/^Silence \d+$/).waitFor();
    const stored = await database.db.selectFrom('silences').select(['id', 'matchers']).where('comment', '=', 'pasted matchers').executeTakeFirstOrThrow();
    expect(stored.matchers).toEqual([
      { name: 'alertname', value: 'X', isEqual: true, isRegex: false },
      { name: 'instance', value: 'h.*', isEqual: true, isRegex: true },
    ]);
    await shot('10b-silence-from-matcher-syntax');

    await go('#/inhibit-rules/new');
    await heading('New inhibition rule').waitFor();
    const source = page.locator('#source-matchers .matcher-row');
    const target = page.locator('#target-matchers .matcher-row');
    await source.first().locator('input').first().fill('severity=critical');
    await source.first().locator('input').first().press('Tab');
    await expect.poll(() => source.first().locator('input').first().inputValue()).toBe('severity');
    expect(await source.first().locator('input').nth(1).inputValue()).toBe('critical');
    await target.first().locator('input').first().fill('{severity="warning", team=~"web|api"}');
    await target.first().locator('input').first().press('Tab');
    await target.nth(1).waitFor();
    await page.getByLabel('Equal labels').fill('instance');
    await page.getByRole('button', { name: 'Create inhibition rule' }).click();
    await page.waitForURL(/#\/inhibit-rules\/\d+$/);
    const rule = await database.db.selectFrom('inhibit_rules').select(['id', 'source_matchers', 'target_matchers']).executeTakeFirstOrThrow();
    expect([rule.source_matchers, rule.target_matchers]).toEqual([
      [{ name: 'severity', value: 'critical', isEqual: true, isRegex: false }],
      [
        { name: 'severity', value: 'warning', isEqual: true, isRegex: false },
        { name: 'team', value: 'web|api', isEqual: true, isRegex: true },
      ],
    ]);
    // Neither matches the seeded groups' pages below; removed all the same, so that the later steps see what they saw before.
    await database.db.deleteFrom('inhibit_rules').where('id', '=', rule.id).execute();
    await database.db.deleteFrom('silences').where('id', '=', stored.id).execute();
  });

  it('shows the alert as silenced in the list, the dashboard and the detail', async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Alerts' }).click();
    await heading('Alerts').waitFor();
    const disk = page.locator('tbody tr', { hasText: 'DiskFull' });
    await see(disk.locator('.badge-silenced'), 'Silenced until');
    await see(disk.locator('.badge-acked'), 'Acknowledged');
    expect(await page.locator('tbody tr', { hasText: 'HighCPU' }).locator('.badge-silenced').count()).toBe(0);
    await page.getByLabel('Silenced', { exact: true }).selectOption('true');
    await page.getByRole('button', { name: 'Apply' }).click();
    await see(page.locator('.panel-head .count'), '1 found');
    await shot('11-alerts-silenced');
    await go('#/');
    await heading('Dashboard').waitFor();
    expect(await page.locator('.card', { hasText: 'Firing, silenced' }).locator('.card-value').innerText()).toBe('1');
    expect(await page.locator('.card', { hasText: 'Firing, unacknowledged' }).locator('.card-value').innerText()).toBe('1');
    await go(`#/alerts/${groupIds['DiskFull']}`);
    await heading('DiskFull').waitFor();
    await see(page.locator('.page-head .badge-silenced'), 'Silenced until');
  });

  it('renders the delivery and administration pages', async () => {
    await go('#/notifications?status=failed');
    await heading('Notifications').waitFor();
    await see(page.locator('tbody tr'), 'channel_not_found');
    expect(await page.locator('tbody tr').count()).toBe(1);
    await shot('12-notifications');

    await go('#/slack-sink');
    await heading('Slack sink').waitFor();
    // Either the API already knows deliveredVia (a table or its empty state), or the console explains that it does not.
    await page.locator('#sink-unsupported, .panel table, .panel .empty').first().waitFor();
    await shot('13-slack-sink');

    await go('#/email-queue?status=failed');
    await heading('Email queue').waitFor();
    const failed = page.locator('tbody tr', { hasText: 'connection refused' });
    await failed.getByRole('button', { name: /^Requeue email/ }).click();
    await see(page.locator('.empty'), 'No failed emails');
    await go('#/email-queue');
    await see(page.locator('tbody tr .badge'), 'pending');
    await shot('14-email-queue');

    await go(`#/explain?fingerprint=${fingerprints['DiskFull']}`);
    await heading('Explain').waitFor();
    await see(page.locator('#explain-result'), 'Winner: storage on-call → #storage');
    await see(page.locator('#explain-result'), 'silence');
    await shot('15-explain');

    await go('#/audit-log');
    await heading('Audit log').waitFor();
    for (const action of ['acknowledge', 'create', 'requeue', 'test']) await see(page.locator('tbody td strong'), action);
    await shot('16-audit-log');

    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/email-rules',
      headers: { authorization: `Bearer ${BOOTSTRAP}` },
      payload: { name: 'storage mail', recipients: ['storage@example.com'], subjectTemplate: '{{ alert_group.name }}', bodyTemplate: '{{ summary }}' },
    });
    expect(created.statusCode).toBe(201);
    await go('#/email-rules');
    await heading('Email rules').waitFor();
    await page.getByRole('button', { name: 'Send a test email for storage mail' }).click();
    await see(page.locator('#toasts'), 'to storage@example.com');
    const queued = await database.db.selectFrom('email_queue').select(['kind', 'recipients', 'subject']).where('kind', '=', 'test').execute();
    expect(queued).toEqual([{ kind: 'test', recipients: ['storage@example.com'], subject: '[test of rule "storage mail"] SentryHub test email' }]);
    await shot('17-email-rules');

    await go('#/api-keys');
    await heading('API keys').waitFor();
    await see(page.locator('tbody tr'), 'watcher');
    await shot('18-api-keys');
  });

  it('lists the queues of the topology, shows a dead letter with its x-error and x-original-* headers, and replays it to its queue', async () => {
    const work = QUEUES.slackNotifierAlertsProcessed;
    const connection = await amqp.connect(vhost.url);
    try {
      const channel = await connection.createChannel();
      // A dead letter as the recovery policy leaves one: the reason and the original route in its headers.
      channel.sendToQueue(`${work}.dead`, Buffer.from(JSON.stringify({ changes: 'not a list' })), {
        messageId: 'dead-1',
        contentType: 'application/json',
        headers: {
          [HEADERS.error]: 'changes: expected array, received string',
          [HEADERS.originalExchange]: 'alerts.processed',
          [HEADERS.originalRoutingKey]: 'alert.changed',
          [HEADERS.originalQueue]: work,
          [HEADERS.retryCount]: 3,
        },
      });
      await channel.close();

      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Queues', exact: true }).click();
      await heading('Queues').waitFor();
      const deadRow = page.locator('tbody tr', { has: page.getByText(`${work}.dead`, { exact: true }) });
      await page.locator('tbody tr').getByText(work, { exact: true }).waitFor();
      // The management API's statistics lag a few seconds behind: reload until the dead letter is counted.
      await expect
        .poll(
          async () => {
            await page.reload();
            await heading('Queues').waitFor();
            return deadRow.locator('td').nth(3).innerText();
          },
          { timeout: 20_000, interval: 1_000 },
        )
        .toBe('1');
      await shot('18a-queues');

      await deadRow.getByRole('link', { name: `Dead letters of ${work}` }).click();
      await heading(`Dead letters of ${work}`).waitFor();
      const letter = page.locator('tbody tr', { hasText: 'dead-1' });
      await see(letter, 'changes: expected array, received string');
      await see(letter, 'alerts.processed / alert.changed');
      expect(await letter.locator('td').nth(4).innerText()).toBe('3');
      await shot('18b-dead-letters');
      await letter.getByRole('button', { name: 'Replay dead-1' }).click();
      await see(page.locator('#toasts'), '1 replayed');
      await see(page.locator('.empty'), 'No dead letters');
      const check = await connection.createChannel();
      expect((await check.checkQueue(work)).messageCount).toBe(1);
      const replayed = await check.get(work, { noAck: true });
      expect(replayed && [replayed.properties.messageId, replayed.properties.headers?.[HEADERS.error]]).toEqual(['dead-1', undefined]);
      await check.close();
    } finally {
      await connection.close();
    }
  });

  it("lists an alert's notifications of every kind on its detail page (Slack, email, webhook), with status, rule and reason, as the API gives them", async () => {
    const outage = await seedGroup('Outage', { severity: 'critical', instance: 'lb-1', team: 'net' }, 'firing', 3);
    const source = await seedGroup('CoreDown', { severity: 'critical', instance: 'core-1', team: 'net' }, 'firing', 4);
    const criteria = JSON.stringify({ team: 'net' });
    const slackRule = await database.db
      .insertInto('slack_rules')
      .values({ name: 'net pager', match_criteria: criteria, message_template: 'x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const emailRule = await database.db
      .insertInto('email_rules')
      .values({ name: 'net mail', match_criteria: criteria, recipients: ['net@example.com'], subject_template: 's', body_template: 'b', group_by: ['team'] })
      .returning('id')
      .executeTakeFirstOrThrow();
    const webhookRule = await database.db
      .insertInto('webhook_rules')
      .values({ name: 'net hook', match_criteria: criteria, receiver: 'pagerduty', preset: 'pagerduty' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);
    const row = { group_id: outage.groupId, instance_id: outage.instanceId };
    await database.db
      .insertInto('notifications')
      .values([
        { ...row, channel: '#net', rule_id: slackRule.id, kind: 'firing', status: 'suppressed', text: 'Outage on lb-1 (silenced)', created_at: at(3) },
        {
          ...row,
          channel: '#net',
          rule_id: slackRule.id,
          kind: 'repeat',
          sequence: 1,
          status: 'inhibited',
          inhibited_by_group_id: source.groupId,
          text: 'Outage on lb-1 (repeat)',
          created_at: at(2.5),
        },
        {
          ...row,
          channel: 'pagerduty',
          notifier: 'webhook',
          webhook_rule_id: webhookRule.id,
          kind: 'firing',
          status: 'failed',
          attempts: 5,
          last_error: 'HTTP 400 from the receiver',
          text: '{"event_action":"trigger"}',
          created_at: at(2),
        },
      ])
      .execute();
    // A grouped alert email that went out in its group's email (which failed), and one that waits for the next.
    const groupEmail = await database.db
      .insertInto('email_queue')
      .values({
        rule_id: emailRule.id,
        kind: 'group',
        recipients: ['net@example.com'],
        subject: '[FIRING:2] (team=net)',
        body_text: 'b',
        status: 'failed',
        attempts: 3,
        last_error: '550 mailbox unavailable',
        group_key: '[["team","net"]]',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await database.db
      .insertInto('email_queue')
      .values([
        {
          ...row,
          rule_id: emailRule.id,
          kind: 'firing',
          recipients: ['net@example.com'],
          subject: 'Outage is firing',
          body_text: 'b',
          status: 'completed',
          group_key: '[["team","net"]]',
          group_email_id: groupEmail.id,
          created_at: at(1.5),
        },
        {
          ...row,
          rule_id: emailRule.id,
          kind: 'resolved',
          recipients: ['net@example.com'],
          subject: 'Outage resolved',
          body_text: 'b',
          status: 'grouped',
          group_key: '[["team","net"]]',
          created_at: at(1),
        },
        {
          ...row,
          rule_id: emailRule.id,
          kind: 'test',
          recipients: ['net@example.com'],
          subject: '[test of rule "net mail"]',
          body_text: 'b',
          status: 'completed',
          created_at: at(0.5),
        },
      ])
      .execute();

    // The API: every notifier's rows (not the test email), newest first, each with its rule and reason.
    const answer = await app.inject({ method: 'GET', url: `/api/v1/alert-groups/${outage.groupId}`, headers: { authorization: `Bearer ${viewerKey}` } });
    const listed = (
      answer.json() as {
        notifications: { notifier: string; kind: string; status: string; ruleName: string | null; destination: string; reason: string | null }[];
      }
    ).notifications;
    expect(listed.map(({ notifier, kind, status, ruleName, destination, reason }) => ({ notifier, kind, status, ruleName, destination, reason }))).toEqual([
      {
        notifier: 'email',
        kind: 'resolved',
        status: 'pending',
        ruleName: 'net mail',
        destination: 'net@example.com',
        reason: 'waiting for its group’s next message (groupWait / groupInterval)',
      },
      {
        notifier: 'email',
        kind: 'firing',
        status: 'failed',
        ruleName: 'net mail',
        destination: 'net@example.com',
        reason: `in group email #${groupEmail.id}: failed: 550 mailbox unavailable`,
      },
      { notifier: 'webhook', kind: 'firing', status: 'failed', ruleName: 'net hook', destination: 'pagerduty', reason: 'failed: HTTP 400 from the receiver' },
      {
        notifier: 'slack',
        kind: 'repeat',
        status: 'inhibited',
        ruleName: 'net pager',
        destination: '#net',
        reason: `inhibited by alert group #${source.groupId} (CoreDown)`,
      },
      {
        notifier: 'slack',
        kind: 'firing',
        status: 'suppressed',
        ruleName: 'net pager',
        destination: '#net',
        reason: 'silenced: a silence matched the alert when it was to be told',
      },
    ]);

    // The page shows the same rows.
    await go(`#/alerts/${outage.groupId}`);
    await heading('Outage').waitFor();
    const rows = page.locator('section[aria-labelledby="nt"] tbody tr');
    await see(rows, 'net hook');
    expect(await rows.count()).toBe(5);
    const texts = await rows.allInnerTexts();
    expect(texts[0]).toMatch(/Email[\s\S]*net@example.com[\s\S]*net mail[\s\S]*resolved[\s\S]*pending[\s\S]*waiting for its group/);
    expect(texts[1]).toMatch(new RegExp(`Email[\\s\\S]*net mail[\\s\\S]*failed[\\s\\S]*in group email #${groupEmail.id}: failed: 550 mailbox unavailable`));
    expect(texts[2]).toMatch(/Webhook[\s\S]*pagerduty[\s\S]*net hook[\s\S]*failed[\s\S]*HTTP 400 from the receiver/);
    expect(texts[3]).toMatch(
      new RegExp(`Slack[\\s\\S]*#net[\\s\\S]*net pager[\\s\\S]*repeat 1[\\s\\S]*inhibited[\\s\\S]*inhibited by alert group #${source.groupId} \\(CoreDown\\)`),
    );
    expect(texts[4]).toMatch(/Slack[\s\S]*net pager[\s\S]*suppressed[\s\S]*silenced/);
    // The rule names link to their rules, the inhibitor to its alert.
    expect(await rows.nth(2).getByRole('link', { name: 'net hook' }).getAttribute('href')).toBe(`#/webhook-rules/${webhookRule.id}`);
    await rows
      .nth(3)
      .getByRole('link', { name: `see #${source.groupId}` })
      .click();
    await heading('CoreDown').waitFor();
    await go(`#/alerts/${outage.groupId}`);
    await heading('Outage').waitFor();
    await shot('15-alert-notifications');
  });

  it('gives a viewer key read-only pages: actions disabled with a hint; logging out forgets the key', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await heading('Log in to the console').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('sentryhub.apiKey'))).toBeNull();
    await page.getByLabel('API key').fill(viewerKey);
    await page.getByRole('button', { name: 'Log in' }).click();
    await heading('Dashboard').waitFor();
    await see(page.locator('#who'), 'viewer key');
    expect(await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'API keys' }).count()).toBe(0);
    await go(`#/alerts/${groupIds['HighCPU']}`);
    await heading('HighCPU').waitFor();
    expect(await page.getByRole('button', { name: 'Acknowledge', exact: true }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Resolve', exact: true }).isDisabled()).toBe(true);
    await see(page.locator('.readonly-hint'), 'viewer role');
    await shot('19-viewer-alert');
    await go('#/silences');
    await heading('Silences').waitFor();
    expect(await page.getByRole('link', { name: 'New silence' }).count()).toBe(0);
    expect(await page.locator('tbody tr').getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true);
    // Not in the navigation, and the page itself says why (the API's 403) instead of failing.
    expect(await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Queues', exact: true }).count()).toBe(0);
    await go('#/queues');
    await see(page.locator('#queues-forbidden'), 'Queue management needs an admin key');
  });

  it('never put a key in a URL and raised no script error', () => {
    expect(requestedUrls.length).toBeGreaterThan(20);
    expect(requestedUrls.filter((url) => url.includes(BOOTSTRAP) || url.includes(viewerKey))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
