/**
 * `npm run demo`: sends two sample Alertmanager alerts through the running stack (firing,
 * then resolved) and prints what reached Slack, or the Slack sink when SLACK_INTERNAL_ENDPOINT
 * is unset. Talks to the stack only from outside: HTTP to the gateway, SQL to PostgreSQL.
 *
 * GATEWAY_URL (http://localhost:8080), DATABASE_URL (postgres://postgres@localhost:5432/sentryhub)
 * and WEBHOOK_TOKENS (its first token is sent as the Bearer token) are read from the environment.
 */
import pg from 'pg';
import { request } from 'undici';

const GATEWAY_URL = (process.env['GATEWAY_URL'] || 'http://localhost:8080').replace(/\/+$/, '');
const DATABASE_URL = process.env['DATABASE_URL'] || 'postgres://postgres@localhost:5432/sentryhub';
const TOKEN = (process.env['WEBHOOK_TOKENS'] ?? '')
  .split(',')
  .map((token) => token.trim())
  .find(Boolean);
const WAIT_MS = 20_000;
const POLL_MS = 500;

const DEMO_RULE = {
  name: 'demo-catch-all',
  priority: 0,
  matchCriteria: {},
  messageTemplate: '{{ status | upcase }}: {{ alert_group.name }} ({{ alert_group.severity }}) on {{ labels.instance }} - {{ summary }}',
  resolvedMessageTemplate:
    '{{ status | upcase }}: {{ alert_group.name }} ({{ alert_group.severity }}) on {{ labels.instance }} is back to normal - {{ summary }}',
};

interface DemoAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const ALERTS: DemoAlert[] = [
  {
    labels: { alertname: 'DemoHighCPU', instance: 'demo-host-1:9100', job: 'node', severity: 'critical', team: 'ops' },
    annotations: { summary: 'CPU usage above 90% for 5 minutes', description: 'demo-host-1 has been at 97% CPU since the last deploy.' },
  },
  {
    labels: { alertname: 'DemoDiskAlmostFull', instance: 'demo-host-1:9100', job: 'node', severity: 'warning', team: 'ops', mountpoint: '/var' },
    annotations: { summary: 'Disk /var is 91% full', description: 'At the current rate /var fills up in about 6 hours.' },
  },
];

class DemoError extends Error {}

const log = (message: string) => process.stdout.write(`${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function errorCode(error: unknown): string | undefined {
  const withCode = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = withCode?.code ?? withCode?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** One Alertmanager webhook (version 4) for both demo alerts, as Alertmanager would send it. */
function webhook(status: 'firing' | 'resolved', startsAt: string, endsAt: string) {
  return {
    version: '4',
    groupKey: '{}/{team="ops"}:{job="node"}',
    truncatedAlerts: 0,
    status,
    receiver: 'sentryhub',
    groupLabels: { job: 'node' },
    commonLabels: { instance: 'demo-host-1:9100', job: 'node', team: 'ops' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts: ALERTS.map((alert) => ({
      status,
      labels: alert.labels,
      annotations: alert.annotations,
      startsAt,
      endsAt,
      generatorURL: `http://prometheus.example:9090/graph?g0.expr=${encodeURIComponent(`ALERTS{alertname="${alert.labels['alertname']}"}`)}`,
    })),
  };
}

async function checkGateway(): Promise<void> {
  try {
    const { statusCode, body } = await request(`${GATEWAY_URL}/readyz`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    const text = await body.text();
    if (statusCode !== 200) log(`! webhook-gateway is up but not ready (${statusCode} ${text}); its intake answers 503 until RabbitMQ is connected`);
  } catch (error) {
    throw new DemoError(
      `the webhook-gateway is not reachable at ${GATEWAY_URL} (${errorCode(error) ?? (error as Error).message}).\n` +
        '  Start the stack first with `npm start` (RabbitMQ and PostgreSQL must be running), or point GATEWAY_URL at it.',
    );
  }
}

async function postWebhook(payload: ReturnType<typeof webhook>): Promise<string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (TOKEN) headers['authorization'] = `Bearer ${TOKEN}`;
  let response;
  try {
    response = await request(`${GATEWAY_URL}/api/v1/webhooks/alertmanager`, { method: 'POST', headers, body: JSON.stringify(payload), headersTimeout: 15_000 });
  } catch (error) {
    throw new DemoError(
      `the webhook-gateway is not reachable at ${GATEWAY_URL} (${errorCode(error) ?? (error as Error).message}); is \`npm start\` still running?`,
    );
  }
  const text = await response.body.text();
  if (response.statusCode === 401) throw new DemoError('the gateway answered 401: set WEBHOOK_TOKENS to the token the gateway expects');
  if (response.statusCode !== 202) throw new DemoError(`the gateway answered ${response.statusCode}: ${text}`);
  const accepted = JSON.parse(text) as { accepted: number; id: string };
  log(`  -> 202 accepted ${accepted.accepted} alerts (message id ${accepted.id})`);
  return accepted.id;
}

/** Adds the catch-all demo rule when there is no active Slack rule, so that something is sent. */
async function ensureDemoRule(db: pg.Client): Promise<void> {
  const { rows } = await db.query<{ name: string }>('select name from slack_rules where is_active order by priority desc, name');
  if (rows.length > 0) {
    log(`Slack rules: ${rows.map((row) => row.name).join(', ')} (the demo alerts reach Slack only if one of them matches)`);
    return;
  }
  const inserted = await db.query(
    `insert into slack_rules (name, priority, match_criteria, message_template, resolved_message_template)
     values ($1, $2, $3::jsonb, $4, $5) on conflict (name) do nothing`,
    [DEMO_RULE.name, DEMO_RULE.priority, JSON.stringify(DEMO_RULE.matchCriteria), DEMO_RULE.messageTemplate, DEMO_RULE.resolvedMessageTemplate],
  );
  if (inserted.rowCount) log(`Slack rules: none was active, added "${DEMO_RULE.name}" (priority 0, matches every alert)`);
  else log(`Slack rules: "${DEMO_RULE.name}" exists but is inactive; no rule will match`);
}

interface InstanceRow {
  id: string;
  name: string;
  status: string;
}

/** The demo's episodes (one per alert), once alert-processor has stored them. */
async function waitForInstances(db: pg.Client, startsAt: string, status: 'firing' | 'resolved'): Promise<InstanceRow[]> {
  const names = ALERTS.map((alert) => alert.labels['alertname']);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const { rows } = await db.query<InstanceRow>(
      `select i.id::text as id, g.name, i.status from alert_instances i join alert_groups g on g.id = i.group_id
       where g.name = any($1::text[]) and i.starts_at = $2 order by g.name`,
      [names, startsAt],
    );
    if (rows.length === ALERTS.length && rows.every((row) => row.status === status)) return rows;
    if (Date.now() > deadline) {
      throw new DemoError(`alert-processor did not record the ${status} alerts within ${WAIT_MS / 1000} s (found ${rows.length}): is it running? see its log`);
    }
    await sleep(POLL_MS);
  }
}

interface NotificationRow {
  instance_id: string;
  channel: string;
  kind: string;
  status: string;
  text: string;
  sent_at: Date | null;
  last_error: string | null;
}

/** Polls `notifications` until every (alert, kind) has a settled row, or WAIT_MS passes. */
async function waitForNotifications(db: pg.Client, instances: InstanceRow[]): Promise<NotificationRow[]> {
  const ids = instances.map((instance) => instance.id);
  const expected = ids.length * 2; // firing and resolved per alert
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const { rows } = await db.query<NotificationRow>(
      `select instance_id::text as instance_id, channel, kind, status, text, sent_at, last_error from notifications
       where instance_id = any($1::bigint[]) order by instance_id, kind desc, id`,
      [ids],
    );
    const settled = rows.filter((row) => row.status !== 'pending');
    if (settled.length >= expected || Date.now() > deadline) return rows;
    await sleep(POLL_MS);
  }
}

function printNotifications(instances: InstanceRow[], rows: NotificationRow[]): boolean {
  log('\nWhat reached Slack (notifications table):');
  let complete = true;
  for (const instance of instances) {
    log(`  ${instance.name} (episode ${instance.id})`);
    for (const kind of ['firing', 'resolved']) {
      const row = rows.find((candidate) => candidate.instance_id === instance.id && candidate.kind === kind);
      if (!row) {
        complete = false;
        log(`    ${kind.padEnd(8)} nothing after ${WAIT_MS / 1000} s`);
        continue;
      }
      if (row.status !== 'sent') complete = false;
      const when = row.sent_at ? ` at ${row.sent_at.toISOString()}` : '';
      log(`    ${kind.padEnd(8)} ${row.status} to ${row.channel}${when}${row.last_error ? ` (last error: ${row.last_error})` : ''}`);
      for (const line of row.text.split('\n')) log(`             | ${line}`);
    }
  }
  if (!complete) {
    log(
      '\nNot every notification was sent. Check that slack-notifier is running (npm start starts it once it is built),\n' +
        'that an active Slack rule matches the demo labels, and the slack-notifier log.',
    );
  } else {
    log('\nIf slack-notifier runs without SLACK_INTERNAL_ENDPOINT, these went to its log ("slack message (sink)"), not to Slack.');
  }
  return complete;
}

async function main(): Promise<number> {
  log(`SentryHub demo: gateway ${GATEWAY_URL}`);
  await checkGateway();

  const db = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await db.connect();
  } catch (error) {
    throw new DemoError(`cannot connect to PostgreSQL (${errorCode(error) ?? (error as Error).message}): check DATABASE_URL`);
  }
  try {
    try {
      await ensureDemoRule(db);
    } catch (error) {
      if (errorCode(error) === '42P01') throw new DemoError('the slack_rules table is missing: run `npm run db:migrate` (npm start does it)');
      throw error;
    }

    // A fresh startsAt each run: a new episode of the same alert groups, so it is notified again.
    const startsAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000).toISOString();
    log(`\nPOST ${GATEWAY_URL}/api/v1/webhooks/alertmanager: ${ALERTS.length} alerts, firing since ${startsAt}`);
    await postWebhook(webhook('firing', startsAt, '0001-01-01T00:00:00Z'));
    // Resolved is sent once the firing is stored, so that the demo shows both in order.
    const instances = await waitForInstances(db, startsAt, 'firing');

    const endsAt = new Date().toISOString();
    log(`POST ${GATEWAY_URL}/api/v1/webhooks/alertmanager: the same alerts, resolved at ${endsAt}`);
    await postWebhook(webhook('resolved', startsAt, endsAt));
    await waitForInstances(db, startsAt, 'resolved');

    log(`\nWaiting up to ${WAIT_MS / 1000} s for slack-notifier...`);
    const rows = await waitForNotifications(db, instances);
    return printNotifications(instances, rows) ? 0 : 1;
  } finally {
    await db.end();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      error instanceof DemoError ? `demo: ${error.message}\n` : `demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
