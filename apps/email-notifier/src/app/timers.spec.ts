import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { AlertProcessed, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertChange } from '@sentryhub/contracts';
import { createDb, ruleRepository, timerLoop, type Database, type TimerLoop } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, firingChange, seedAlert, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import type { Kysely } from 'kysely';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailQueue } from './email-queue';
import { startEmailSender } from './email-sender';
import { alertProcessedHandler } from './handle-alert-processed';
import { createMailer } from './mailer';

const logger = createLogger('email-timers-test', 'silent');
const RECHECK_MS = 400;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Timers in PostgreSQL through the email-notifier on real RabbitMQ, PostgreSQL and a local SMTP
 * server, two replicas (each its own pool, handler and timer loop) sharing them: repeats until
 * acknowledged, a silenced firing emailed once when the silence ends, escalation once and only
 * while unacknowledged.
 */
describe('email-notifier timers', () => {
  let database: TestDatabase;
  let secondDb: Kysely<Database>;
  let vhost: TestVhost;
  let messaging: Messaging;
  let smtp: SMTPServer;
  let sender: ReturnType<typeof startEmailSender>;
  const loops: TimerLoop[] = [];
  const received: ParsedMail[] = [];
  const handled: string[] = [];

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('email_timers'), createTestVhost('email-timers')]);
    secondDb = createDb(database.url, { maxConnections: 5, applicationName: 'email-timers-replica-2' });
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
    const registry = createMetricsRegistry('email-timers-test');
    sender = startEmailSender({
      queue: emailQueue(database.db),
      mailer: createMailer(`smtp://127.0.0.1:${port}`, 'SentryHub <sentryhub@example.com>', 5_000),
      logger,
      registry,
      maxAttempts: 3,
      retryDelayMs: 200,
      pollMs: 100,
    });
    const replicas = [database.db, secondDb].map((db, index) =>
      alertProcessedHandler({
        db,
        rules: ruleRepository(db, { cacheMs: 0 }),
        queue: emailQueue(db),
        registry: index === 0 ? registry : createMetricsRegistry('email-timers-test-2'),
        wake: () => sender.wake(),
        logger,
        heldRecheckMs: RECHECK_MS,
      }),
    );
    const [first] = replicas;
    if (!first) throw new Error('no replica');
    await subscribe(messaging, {
      queue: QUEUES.emailNotifierAlertsProcessed,
      parse: (json) => AlertProcessed.safeParse(json),
      handler: async (event, context) => {
        await first(event, context);
        handled.push(event.id);
      },
      logger,
    });
    replicas.forEach((replica, index) => {
      const loop = timerLoop({ db: index === 0 ? database.db : secondDb, notifier: 'email', pollMs: 100, logger, handle: replica.handleTimer });
      loop.start();
      loops.push(loop);
    });
  });

  afterAll(async () => {
    await Promise.all(loops.map((loop) => loop.stop()));
    await sender?.stop();
    await messaging?.shutdown();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
    await secondDb?.destroy();
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  const tag = () => randomBytes(4).toString('hex');
  const insertRule = async (
    name: string,
    criteria: Record<string, string>,
    to: string,
    options: {
      repeatInterval?: string;
      escalateTo?: number;
      escalateAfter?: string;
      groupBy?: string[];
      groupWait?: string;
      groupInterval?: string;
      subject?: string;
      body?: string;
    } = {},
  ) =>
    (
      await database.db
        .insertInto('email_rules')
        .values({
          name,
          match_criteria: JSON.stringify(criteria),
          recipients: [to],
          subject_template: options.subject ?? `${name}: {{ alert_group.name }} {{ status }}`,
          body_template: options.body ?? '{{ status }}',
          group_by: options.groupBy ?? null,
          group_wait: options.groupWait ?? null,
          group_interval: options.groupInterval ?? null,
          repeat_interval: options.repeatInterval ?? null,
          escalate_to: options.escalateTo ?? null,
          escalate_after: options.escalateAfter ?? null,
          updated_at: new Date(),
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;

  /** A firing group with a firing episode, as the alert processor stores them, and its change. */
  const seed = async (labels: Record<string, string>, silencedUntil: Date | null = null) => firingChange(await seedAlert(database.db, labels), silencedUntil);

  async function deliver(...changes: AlertChange[]) {
    const id = randomUUID();
    await messaging.publish(
      EXCHANGES.alerts,
      ROUTING_KEYS.alertProcessed('firing'),
      { id, processedAt: new Date().toISOString(), status: 'firing', changes },
      { messageId: id },
    );
    await waitFor(() => (handled.includes(id) ? true : null), 20_000, `event ${id} handled`);
  }
  const rowsOf = (instanceId: number) => database.db.selectFrom('email_queue').selectAll().where('instance_id', '=', instanceId).orderBy('id').execute();
  const timersOf = (instanceId: number) => database.db.selectFrom('notification_timers').selectAll().where('instance_id', '=', instanceId).execute();
  const mailsTo = (address: string) => received.filter((mail) => JSON.stringify(mail.to).includes(address)).map((mail) => mail.subject);
  const acknowledge = (groupId: number) =>
    database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'oncall', acknowledged_at: new Date() })
      .where('id', '=', groupId)
      .execute();

  it('repeats a firing at repeatInterval, numbered, until it is acknowledged', async () => {
    const t = tag();
    await insertRule(`rep-${t}`, { team: t }, `rep-${t}@example.com`, { repeatInterval: '1s' });
    const change = await seed({ alertname: 'HighCPU', team: t });
    await deliver(change);
    await waitFor(() => (mailsTo(`rep-${t}@`).length >= 3 ? true : null), 20_000, 'the firing and two repeats');
    await acknowledge(change.group.id);
    await waitFor(async () => ((await timersOf(change.instance.id)).length === 0 ? true : null), 20_000, 'the repeat timer ends');
    await waitFor(async () => ((await rowsOf(change.instance.id)).every((row) => row.status === 'completed') ? true : null), 20_000, 'queued repeats sent');
    const sent = mailsTo(`rep-${t}@`).length;
    await sleep(2_500);
    expect(mailsTo(`rep-${t}@`)).toHaveLength(sent);
    const rows = await rowsOf(change.instance.id);
    expect(rows.map((row) => `${row.kind}/${row.sequence}`)).toEqual(['firing/0', ...rows.slice(1).map((_, n) => `repeat/${n + 1}`)]);
    expect(rows).toHaveLength(sent);
    expect(new Set(mailsTo(`rep-${t}@`))).toEqual(new Set([`rep-${t}: HighCPU firing`]));
  });

  it('emails a silenced firing once, when its silence ends', async () => {
    const t = tag();
    await insertRule(`sil-${t}`, { team: t }, `sil-${t}@example.com`);
    const endsAt = new Date(Date.now() + 2_000);
    await database.db
      .insertInto('silences')
      .values({
        matchers: JSON.stringify([{ name: 'team', value: t, isEqual: true, isRegex: false }]),
        starts_at: new Date(Date.now() - 1_000),
        ends_at: endsAt,
        created_by: 'test',
        comment: 'email timers',
      })
      .execute();
    const change = await seed({ alertname: 'DiskFull', team: t }, endsAt);
    await deliver(change);
    expect(await rowsOf(change.instance.id)).toEqual([]);
    await waitFor(() => (mailsTo(`sil-${t}@`).length > 0 ? true : null), 20_000, 'the held-back firing emailed');
    expect(Date.now()).toBeGreaterThanOrEqual(endsAt.getTime());
    await sleep(1_500);
    expect(mailsTo(`sil-${t}@`)).toEqual([`sil-${t}: DiskFull firing`]);
    expect((await rowsOf(change.instance.id)).map((row) => [row.kind, row.status])).toEqual([['firing', 'completed']]);
    expect(await timersOf(change.instance.id)).toEqual([]);
  });

  it("groups a grouped rule's alerts into one email per group and groupInterval: per-alert bodies under the title, or a group template", async () => {
    const t = tag();
    await insertRule(`grp-${t}`, { team: t }, `grp-${t}@example.com`, {
      groupBy: ['alertname', 'team'],
      groupWait: '1s',
      groupInterval: '2s',
      body: '{{ labels.host }} {{ status }}',
    });
    await insertRule(`gt-${t}`, { team: t }, `gt-${t}@example.com`, {
      groupBy: ['team'],
      groupWait: '1s',
      groupInterval: '2s',
      subject: '{{ firing_count }} firing in {{ group_labels.team }}',
      body: '{% for a in alerts %}{{ a.labels.host }}={{ a.status }};{% endfor %}',
    });
    // The first rule continues, so both rules apply to every alert.
    await database.db.updateTable('email_rules').set({ continue: true }).where('name', '=', `grp-${t}`).execute();
    await database.db.updateTable('email_rules').set({ priority: 10 }).where('name', '=', `grp-${t}`).execute();
    const changes = await Promise.all(Array.from({ length: 12 }, (_, index) => seed({ alertname: 'HighCPU', team: t, host: `h${index}` })));
    await deliver(...changes);
    await waitFor(() => (mailsTo(`grp-${t}@`).length > 0 && mailsTo(`gt-${t}@`).length > 0 ? true : null), 20_000, 'the group emails');
    const firstAt = Date.now();
    const bodiesTo = (address: string) => received.filter((mail) => JSON.stringify(mail.to).includes(address)).map((mail) => mail.text?.trim() ?? '');
    expect(mailsTo(`grp-${t}@`)).toEqual([`[FIRING:12] HighCPU (team=${t})`]);
    const lines = bodiesTo(`grp-${t}@`)[0]?.split('\n') ?? [];
    expect(lines[0]).toBe(`[FIRING:12] HighCPU (team=${t})`);
    expect(lines.slice(1).sort()).toEqual(changes.map((_, index) => `• h${index} firing`).sort());
    expect(mailsTo(`gt-${t}@`)).toEqual([`12 firing in ${t}`]);
    expect(new Set(bodiesTo(`gt-${t}@`)[0]?.split(';').filter(Boolean))).toEqual(new Set(changes.map((_, index) => `h${index}=firing`)));
    // Each alert's own row, completed with the group email that told it.
    const rows = await database.db
      .selectFrom('email_queue')
      .selectAll()
      .where(
        'instance_id',
        'in',
        changes.map((change) => change.instance.id),
      )
      .execute();
    expect(rows).toHaveLength(24);
    expect(rows.every((row) => row.status === 'completed' && row.group_email_id !== null)).toBe(true);
    expect(new Set(rows.map((row) => row.group_email_id)).size).toBe(2);

    // Two resolve: one next email per rule, not before the group interval.
    for (const change of changes.slice(0, 2)) {
      await database.db.updateTable('alert_instances').set({ status: 'resolved', ends_at: new Date() }).where('id', '=', change.instance.id).execute();
      await deliver({
        ...change,
        change: 'resolved',
        group: { ...change.group, status: 'resolved' },
        instance: { ...change.instance, status: 'resolved', endsAt: new Date().toISOString(), resolutionType: 'normal' },
      });
    }
    await waitFor(() => (mailsTo(`grp-${t}@`).length >= 2 && mailsTo(`gt-${t}@`).length >= 2 ? true : null), 20_000, 'the next group emails');
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(1_000);
    await sleep(2_500);
    expect(mailsTo(`grp-${t}@`)).toEqual([`[FIRING:12] HighCPU (team=${t})`, `[RESOLVED:2] HighCPU (team=${t})`]);
    expect(mailsTo(`gt-${t}@`)).toEqual([`12 firing in ${t}`, `0 firing in ${t}`]);
    expect(bodiesTo(`gt-${t}@`)[1]?.split(';').filter(Boolean).sort()).toEqual(['h0=resolved', 'h1=resolved']);
  });

  it("repeats a grouped rule's group: one email per repeatInterval with the group's still-firing, unacknowledged alerts", async () => {
    const t = tag();
    const ruleId = await insertRule(`grep-${t}`, { team: t }, `grep-${t}@example.com`, {
      groupBy: ['team'],
      groupWait: '300ms',
      groupInterval: '1s',
      repeatInterval: '3s',
      body: '{{ labels.host }} {{ status }}',
    });
    const changes = await Promise.all([0, 1, 2].map((index) => seed({ alertname: 'HighCPU', team: t, host: `r${index}` })));
    await deliver(...changes);
    const mails = () => received.filter((mail) => JSON.stringify(mail.to).includes(`grep-${t}@`));
    const hostsOf = (text: string | undefined) => (text ?? '').trim().split('\n').slice(1).sort();
    await waitFor(() => (mails().length >= 2 ? true : null), 20_000, 'the first email and the first repeat');
    const [first, repeat] = mails();
    expect([first?.subject, repeat?.subject]).toEqual([`[FIRING:3] HighCPU (team=${t})`, `[FIRING:3] HighCPU (team=${t})`]);
    expect(hostsOf(repeat?.text)).toEqual(['• r0 firing', '• r1 firing', '• r2 firing']);
    const repeatRows = await database.db.selectFrom('email_queue').selectAll().where('rule_id', '=', ruleId).where('kind', '=', 'repeat').execute();
    expect(repeatRows.map((row) => [row.instance_id, row.sequence, row.status]).sort()).toEqual(
      changes.map((change) => [change.instance.id, 1, 'completed']).sort(),
    );
    expect(new Set(repeatRows.map((row) => row.group_email_id)).size).toBe(1);

    const told = mails().length;
    await acknowledge(changes[0]?.group.id ?? 0);
    const resolving = changes[1] as AlertChange;
    await database.db.updateTable('alert_instances').set({ status: 'resolved', ends_at: new Date() }).where('id', '=', resolving.instance.id).execute();
    await deliver({
      ...resolving,
      change: 'resolved',
      group: { ...resolving.group, status: 'resolved' },
      instance: { ...resolving.instance, status: 'resolved', endsAt: new Date().toISOString(), resolutionType: 'normal' },
    });
    await waitFor(
      () =>
        mails()
          .slice(told)
          .some((mail) => mail.subject?.startsWith('[FIRING'))
          ? true
          : null,
      20_000,
      'the second repeat',
    );
    const later = mails().slice(told);
    const nextRepeat = later.find((mail) => mail.subject?.startsWith('[FIRING'));
    expect(nextRepeat?.subject).toBe(`[FIRING:1] HighCPU (team=${t})`);
    expect(hostsOf(nextRepeat?.text)).toEqual(['• r2 firing']);
    expect(later.filter((mail) => mail !== nextRepeat).map((mail) => mail.subject)).toEqual([`[RESOLVED:1] HighCPU (team=${t})`]);
  });

  it("puts a grouped rule's silenced firing in its group's next email when the silence ends, not in an email of its own", async () => {
    const t = tag();
    await insertRule(`gheld-${t}`, { team: t }, `gheld-${t}@example.com`, {
      groupBy: ['team'],
      groupWait: '500ms',
      groupInterval: '4s',
      body: '{{ labels.host }} {{ status }}',
    });
    const endsAt = new Date(Date.now() + 2_000);
    await database.db
      .insertInto('silences')
      .values({
        matchers: JSON.stringify([
          { name: 'team', value: t, isEqual: true, isRegex: false },
          { name: 'hold', value: 'yes', isEqual: true, isRegex: false },
        ]),
        starts_at: new Date(Date.now() - 1_000),
        ends_at: endsAt,
        created_by: 'test',
        comment: 'email timers',
      })
      .execute();
    const told = await seed({ alertname: 'DiskFull', team: t, host: 'told' });
    const held = await Promise.all(['a', 'b'].map((name) => seed({ alertname: 'DiskFull', team: t, host: `held-${name}`, hold: 'yes' }, endsAt)));
    await deliver(told, ...held);
    const mails = () => received.filter((mail) => JSON.stringify(mail.to).includes(`gheld-${t}@`));
    await waitFor(() => (mails().length >= 1 ? true : null), 20_000, 'the first group email');
    expect(mails()[0]?.subject).toBe(`[FIRING:1] DiskFull (team=${t})`);
    await waitFor(() => (mails().length >= 2 ? true : null), 20_000, 'the email of the released firings');
    await sleep(1_500);
    expect(mails().map((mail) => mail.subject)).toEqual([`[FIRING:1] DiskFull (team=${t})`, `[FIRING:2] DiskFull (team=${t})`]);
    expect((mails()[1]?.text ?? '').trim().split('\n').slice(1).sort()).toEqual(['• held-a firing', '• held-b firing']);
    const rows = await database.db
      .selectFrom('email_queue')
      .selectAll()
      .where(
        'instance_id',
        'in',
        held.map((change) => change.instance.id),
      )
      .execute();
    expect(rows.map((row) => [row.kind, row.status, row.group_key])).toEqual(held.map(() => ['firing', 'completed', JSON.stringify([['team', t]])]));
    expect(new Set(rows.map((row) => row.group_email_id)).size).toBe(1);
  });

  it("escalates to the other rule's recipients once, only while unacknowledged", async () => {
    const t = tag();
    const manager = await insertRule(`mgr-${t}`, { never: t }, `mgr-${t}@example.com`);
    await insertRule(`team-${t}`, { team: t }, `team-${t}@example.com`, { escalateTo: manager, escalateAfter: '1s' });
    const unacked = await seed({ alertname: 'Outage', team: t, host: 'u' });
    const acked = await seed({ alertname: 'Outage', team: t, host: 'k' });
    await deliver(unacked);
    await deliver(acked);
    await acknowledge(acked.group.id);
    await waitFor(() => (mailsTo(`mgr-${t}@`).length > 0 ? true : null), 20_000, 'the escalation');
    await waitFor(async () => ((await timersOf(acked.instance.id)).length === 0 ? true : null), 20_000, 'the acknowledged episode’s escalation ends');
    await sleep(2_000);
    expect(mailsTo(`mgr-${t}@`)).toEqual([`mgr-${t}: Outage firing`]);
    expect((await rowsOf(unacked.instance.id)).map((row) => [row.kind, row.status])).toEqual([
      ['firing', 'completed'],
      ['escalation', 'completed'],
    ]);
    expect((await rowsOf(unacked.instance.id))[1]?.rule_id).toBe(manager);
    expect((await rowsOf(acked.instance.id)).map((row) => row.kind)).toEqual(['firing']);
  });
});
