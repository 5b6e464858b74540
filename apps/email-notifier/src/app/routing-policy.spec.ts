import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { AlertProcessed, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertChange } from '@sentryhub/contracts';
import { ruleRepository } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailQueue } from './email-queue';
import { startEmailSender } from './email-sender';
import { alertProcessedHandler } from './handle-alert-processed';
import { createMailer } from './mailer';

const logger = createLogger('email-routing-test', 'silent');

/** The routing policy through the email-notifier on real RabbitMQ, PostgreSQL and a local SMTP server. */
describe('email-notifier: fan-out with continue and inhibition', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let smtp: SMTPServer;
  let sender: ReturnType<typeof startEmailSender>;
  const received: ParsedMail[] = [];
  const handled: string[] = [];

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('email_routing'), createTestVhost('email-routing')]);
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _session, callback) {
        simpleParser(stream)
          .then((mail) => {
            received.push(mail);
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (smtp.server.address() as AddressInfo).port;
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.emailNotifierAlertsProcessed] }), { logger });
    const queue = emailQueue(database.db);
    const registry = createMetricsRegistry('email-routing-test');
    sender = startEmailSender({
      queue,
      mailer: createMailer(`smtp://127.0.0.1:${port}`, 'SentryHub <sentryhub@example.com>', 5_000),
      logger,
      registry,
      maxAttempts: 3,
      retryDelayMs: 200,
      pollMs: 100,
    });
    const handler = alertProcessedHandler({ db: database.db, rules: ruleRepository(database.db, { cacheMs: 0 }), queue, registry, wake: () => sender.wake() });
    await subscribe(messaging, {
      queue: QUEUES.emailNotifierAlertsProcessed,
      parse: (json) => AlertProcessed.safeParse(json),
      handler: async (event, context) => {
        await handler(event, context);
        handled.push(event.id);
      },
      logger,
    });
  });

  afterAll(async () => {
    await sender?.stop();
    await messaging?.shutdown();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  const tag = () => randomBytes(4).toString('hex');
  const insertRule = (name: string, priority: number, criteria: Record<string, string>, to: string, options: { continue?: boolean } = {}) =>
    database.db
      .insertInto('email_rules')
      .values({
        name,
        priority,
        match_criteria: JSON.stringify(criteria),
        recipients: [to],
        subject_template: `${name}: {{ alert_group.name }}`,
        body_template: '{{ status }}',
        continue: options.continue ?? false,
        updated_at: new Date(),
      })
      .execute();

  async function seed(labels: Record<string, string>) {
    const fingerprint = randomBytes(8).toString('hex');
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint,
        name: labels['alertname'] ?? 'x',
        labels: JSON.stringify(labels),
        severity: 'warning',
        source: 'webhook',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const instance = await database.db
      .insertInto('alert_instances')
      .values({ group_id: group.id, status: 'resolved', starts_at: new Date(), ends_at: new Date(), annotations: '{}' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const change: AlertChange = {
      change: 'created',
      group: {
        id: group.id,
        fingerprint,
        name: labels['alertname'] ?? 'x',
        labels,
        severity: 'warning',
        instance: null,
        source: 'webhook',
        status: 'firing',
        firingCount: 1,
        silenced: false,
        silencedUntil: null,
        acknowledged: false,
      },
      instance: {
        id: instance.id,
        status: 'firing',
        startsAt: new Date().toISOString(),
        endsAt: null,
        annotations: {},
        generatorURL: null,
        resolutionType: null,
      },
    };
    return change;
  }

  async function deliver(change: AlertChange) {
    const id = randomUUID();
    await messaging.publish(
      EXCHANGES.alerts,
      ROUTING_KEYS.alertProcessed('firing'),
      { id, processedAt: new Date().toISOString(), status: 'firing', changes: [change] },
      { messageId: id },
    );
    await waitFor(() => (handled.includes(id) ? true : null), 20_000, `event ${id} handled`);
  }
  const rowsOf = (instanceId: number) => database.db.selectFrom('email_queue').selectAll().where('instance_id', '=', instanceId).orderBy('rule_id').execute();
  const mailsTo = (address: string) => received.filter((mail) => JSON.stringify(mail.to).includes(address)).map((mail) => mail.subject);

  it('sends one email per applied rule: without continue the first match only, with continue the next ones too', async () => {
    const t = tag();
    await insertRule(`a-${t}`, 30, { team: t }, `a-${t}@example.com`, { continue: true });
    await insertRule(`b-${t}`, 20, { team: t }, `b-${t}@example.com`);
    await insertRule(`c-${t}`, 10, { team: t }, `c-${t}@example.com`);
    const change = await seed({ alertname: 'DiskFull', team: t });
    await deliver(change);
    await deliver(change);
    const rows = await waitFor(
      async () => {
        const all = await rowsOf(change.instance.id);
        return all.length === 2 && all.every((row) => row.status === 'completed') ? all : null;
      },
      15_000,
      'both emails sent',
    );
    expect(rows.map((row) => row.recipients[0]).sort()).toEqual([`a-${t}@example.com`, `b-${t}@example.com`]);
    expect(mailsTo(`a-${t}@`)).toEqual([`a-${t}: DiskFull`]);
    expect(mailsTo(`b-${t}@`)).toEqual([`b-${t}: DiskFull`]);
    expect(mailsTo(`c-${t}@`)).toEqual([]);
  });

  it('holds an inhibited target back in an inhibited row naming the source; never sent', async () => {
    const t = tag();
    await insertRule(`inh-${t}`, 0, { cluster: t }, `inh-${t}@example.com`);
    await database.db
      .insertInto('inhibit_rules')
      .values({
        name: `crit-${t}`,
        source_matchers: JSON.stringify([
          { name: 'severity', value: 'critical', isEqual: true, isRegex: false },
          { name: 'cluster', value: t, isEqual: true, isRegex: false },
        ]),
        target_matchers: JSON.stringify([{ name: 'severity', value: 'critical', isEqual: false, isRegex: false }]),
        equal: ['cluster'],
        created_by: 'test',
      })
      .execute();
    const source = await seed({ alertname: 'ClusterDown', severity: 'critical', cluster: t });
    await deliver(source);
    const target = await seed({ alertname: 'SlowQueries', severity: 'warning', cluster: t });
    await deliver(target);
    const [held] = await rowsOf(target.instance.id);
    expect(held).toMatchObject({ status: 'inhibited', inhibited_by_group_id: source.group.id, sent_at: null });
    expect(held?.last_error).toContain(`inhibited by alert group ${source.group.id}`);
    await waitFor(() => (mailsTo(`inh-${t}@`).length >= 1 ? true : null), 15_000, 'the source email');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mailsTo(`inh-${t}@`)).toEqual([`inh-${t}: ClusterDown`]);
    expect((await rowsOf(target.instance.id)).map((row) => row.status)).toEqual(['inhibited']);
  });
});
