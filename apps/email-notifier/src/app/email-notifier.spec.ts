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
import { startHousekeeping } from './housekeeping';
import { createMailer } from './mailer';

const logger = createLogger('email-test', 'silent');

/** A real SMTP server for the test: it can accept, refuse recipients, hold the DATA command open, or be stopped. */
async function startSmtp() {
  const received: ParsedMail[] = [];
  let refuse: string | null = null;
  /** While set, a message's DATA is read but not answered (no 250) until the hold is released. */
  let hold: { reached: () => void; released: Promise<void> } | null = null;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onRcptTo(_address, _session, callback) {
      if (refuse) return callback(Object.assign(new Error(refuse), { responseCode: 550 }));
      callback();
    },
    onData(stream, _session, callback) {
      const held = hold;
      simpleParser(stream)
        .then(async (mail) => {
          if (held) {
            held.reached();
            await held.released;
          }
          received.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    received,
    refuseWith: (reason: string | null) => {
      refuse = reason;
    },
    /** Holds the next messages' DATA open: `reached` resolves when one arrived, `release` answers them all. */
    holdData: () => {
      let reached!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((resolve) => (reached = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      hold = { reached, released };
      return {
        reached: arrived,
        release: () => {
          hold = null;
          release();
        },
      };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('email-notifier against real RabbitMQ, PostgreSQL and SMTP', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let sender: ReturnType<typeof startEmailSender>;
  let instanceSeq = 0;
  let groupId: number;

  /** An episode row for each change (foreign keys; stored closed, one group holds many), and the change itself. */
  async function change(status: 'firing' | 'resolved', labels: Record<string, string>, silenced = false): Promise<AlertChange> {
    instanceSeq += 1;
    const instance = await database.db
      .insertInto('alert_instances')
      .values({
        group_id: groupId,
        status: 'resolved',
        starts_at: new Date(Date.UTC(2026, 10, 26, 8, instanceSeq)),
        ends_at: new Date(),
        annotations: JSON.stringify({ summary: 'Disk 97% full' }),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return {
      change: status === 'firing' ? 'created' : 'resolved',
      group: {
        id: groupId,
        fingerprint: 'd2aeefc389ca7746',
        name: 'DiskFull',
        labels: { alertname: 'DiskFull', ...labels },
        severity: 'critical',
        instance: 'db-1',
        source: 'webhook',
        status,
        firingCount: 1,
        silenced,
        silencedUntil: null,
        acknowledged: false,
      },
      instance: {
        id: instance.id,
        status,
        startsAt: new Date().toISOString(),
        endsAt: null,
        annotations: { summary: 'Disk 97% full' },
        generatorURL: null,
        resolutionType: status === 'resolved' ? 'normal' : null,
      },
    };
  }

  const publish = (changes: AlertChange[], id: string) => {
    const status = changes[0]?.instance.status ?? 'firing';
    const event: AlertProcessed = { id, processedAt: new Date().toISOString(), status, changes };
    return messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed(status), event, { messageId: id });
  };
  const rowsFor = (instanceId: number) => database.db.selectFrom('email_queue').selectAll().where('instance_id', '=', instanceId).execute();
  /**
   * The emails received once no row is waiting or being sent. A test that counts emails starts
   * from this: an email an earlier test queued may still be on its way to the SMTP server
   * (docs/testing.md, "A flaky test").
   */
  const receivedWhenIdle = () =>
    waitFor(
      async () =>
        (await database.db.selectFrom('email_queue').select('id').where('status', 'in', ['pending', 'processing']).executeTakeFirst())
          ? null
          : smtp.received.length,
      15_000,
      'no email pending or being sent',
    );

  beforeAll(async () => {
    [database, vhost, smtp] = await Promise.all([createTestDatabase('email'), createTestVhost('email'), startSmtp()]);
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: 'd2aeefc389ca7746',
        name: 'DiskFull',
        labels: '{}',
        severity: 'critical',
        source: 'webhook',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    groupId = group.id;
    await database.db
      .insertInto('email_rules')
      .values({
        name: 'storage-mail',
        priority: 5,
        match_criteria: JSON.stringify({ team: 'storage' }),
        recipients: ['ops@example.com', 'dba@example.com'],
        subject_template: '[{{ status | upcase }}] {{ alert_group.name }} on {{ alert_group.instance }}',
        body_template: '{{ summary }}\n<b>{{ labels.team }}</b> team',
      })
      .execute();
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.emailNotifierAlertsProcessed] }), { logger });
    const queue = emailQueue(database.db);
    const registry = createMetricsRegistry('email-test');
    sender = startEmailSender({
      queue,
      mailer: createMailer(smtp.url, 'SentryHub <sentryhub@example.com>', 5_000),
      logger,
      registry,
      maxAttempts: 3,
      retryDelayMs: 200,
      pollMs: 100,
    });
    await subscribe(messaging, {
      queue: QUEUES.emailNotifierAlertsProcessed,
      parse: (json) => AlertProcessed.safeParse(json),
      handler: alertProcessedHandler({ db: database.db, rules: ruleRepository(database.db, { cacheMs: 0 }), queue, registry, wake: () => sender.wake() }),
      logger,
    });
  });

  afterAll(async () => {
    await sender?.stop();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy(), smtp?.close()]);
  });

  it("sends the winning rule's email with its recipients, subject and both bodies", async () => {
    const firing = await change('firing', { team: 'storage' });
    await publish([firing], 'evt-1');
    const [mail] = await waitFor(() => (smtp.received.length >= 1 ? smtp.received : null), 15_000, 'the email');
    expect(mail?.subject).toBe('[FIRING] DiskFull on db-1');
    const to = mail?.to === undefined ? [] : Array.isArray(mail.to) ? mail.to : [mail.to];
    expect(to.flatMap((a) => a.value.map((v) => v.address))).toEqual(['ops@example.com', 'dba@example.com']);
    expect(mail?.from?.value[0]).toMatchObject({ name: 'SentryHub', address: 'sentryhub@example.com' });
    expect(mail?.text?.trim()).toBe('Disk 97% full\n<b>storage</b> team');
    expect(mail?.html).toContain('Disk 97% full\n&lt;b&gt;storage&lt;/b&gt; team');
    await waitFor(async () => ((await rowsFor(firing.instance.id))[0]?.status === 'completed' ? true : null), 5_000, 'the row completed');
    const [row] = await rowsFor(firing.instance.id);
    expect(row).toMatchObject({ status: 'completed', attempts: 1, kind: 'firing', recipients: ['ops@example.com', 'dba@example.com'] });
  });

  it('marks a row completed only once the SMTP server accepted the message, not while DATA is unanswered', async () => {
    const before = await receivedWhenIdle();
    const held = smtp.holdData();
    const firing = await change('firing', { team: 'storage' });
    await publish([firing], 'evt-held');
    await held.reached;
    try {
      // The message is on the wire and the server has not said 250: the send is not over.
      const watchUntil = Date.now() + 1_500;
      while (Date.now() < watchUntil) {
        const [row] = await rowsFor(firing.instance.id);
        expect(row).toMatchObject({ status: 'processing', sent_at: null });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(smtp.received.length).toBe(before);
    } finally {
      held.release();
    }
    const row = await waitFor(
      async () => {
        const [current] = await rowsFor(firing.instance.id);
        return current?.status === 'completed' ? current : null;
      },
      15_000,
      'the row completed after the 250',
    );
    expect(row).toMatchObject({ attempts: 1, last_error: null });
    expect(row.sent_at).not.toBeNull();
    expect(smtp.received.length).toBe(before + 1);
  });

  it('sends one email when the same event is delivered again', async () => {
    const before = await receivedWhenIdle();
    const firing = await change('firing', { team: 'storage' });
    await publish([firing], 'evt-2');
    await publish([firing], 'evt-2');
    await waitFor(() => (smtp.received.length >= before + 1 ? true : null), 15_000, 'the email');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(smtp.received.length).toBe(before + 1);
    expect(await rowsFor(firing.instance.id)).toHaveLength(1);
  });

  it('queues nothing without a matching rule, nor for a silenced firing', async () => {
    const other = await change('firing', { team: 'web' });
    const silenced = await change('firing', { team: 'storage' }, true);
    await publish([other, silenced], 'evt-3');
    const marker = await change('firing', { team: 'storage' });
    await publish([marker], 'evt-3b');
    await waitFor(async () => ((await rowsFor(marker.instance.id)).length === 1 ? true : null), 15_000, 'the later event');
    expect(await rowsFor(other.instance.id)).toHaveLength(0);
    expect(await rowsFor(silenced.instance.id)).toHaveLength(0);
    // The marker's email is sent too: this test ends when it went out, not while it is on its way.
    await waitFor(async () => ((await rowsFor(marker.instance.id))[0]?.status === 'completed' ? true : null), 15_000, 'the marker email sent');
  });

  it('retries when the SMTP server refuses, marks the row failed with the error, and a requeue delivers it once', async () => {
    const before = await receivedWhenIdle();
    smtp.refuseWith('mailbox unavailable');
    const firing = await change('firing', { team: 'storage' });
    await publish([firing], 'evt-4');
    const failed = await waitFor(
      async () => {
        const [row] = await rowsFor(firing.instance.id);
        return row?.status === 'failed' ? row : null;
      },
      20_000,
      'the email to fail',
    );
    expect(failed.attempts).toBe(3);
    expect(failed.last_error).toMatch(/mailbox unavailable/);
    expect(smtp.received.length).toBe(before);
    // What the admin API's requeue does.
    smtp.refuseWith(null);
    await database.db
      .updateTable('email_queue')
      .set({ status: 'pending', attempts: 0, last_error: null, next_attempt_at: new Date() })
      .where('id', '=', failed.id)
      .execute();
    sender.wake();
    await waitFor(async () => ((await rowsFor(firing.instance.id))[0]?.status === 'completed' ? true : null), 15_000, 'the requeued email');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(smtp.received.length).toBe(before + 1);
  });

  it('retries while the SMTP server is down, then fails with the connection error', async () => {
    const down = createMailer('smtp://127.0.0.1:1', 'x@example.com', 1_000);
    const queue = emailQueue(database.db);
    // The working sender stops first, so that only the one facing the dead server sees the row.
    await sender.stop();
    const firing = await change('firing', { team: 'storage' });
    await queue.enqueue({
      ruleId: 1,
      groupId,
      instanceId: firing.instance.id,
      kind: 'firing',
      recipients: ['ops@example.com'],
      subject: 's',
      text: 't',
      html: 'h',
    });
    const downSender = startEmailSender({
      queue,
      mailer: down,
      logger,
      registry: createMetricsRegistry('email-down'),
      maxAttempts: 2,
      retryDelayMs: 100,
      pollMs: 100,
    });
    try {
      const row = await waitFor(
        async () => {
          const [current] = await rowsFor(firing.instance.id);
          return current?.status === 'failed' ? current : null;
        },
        20_000,
        'the email to fail',
      );
      expect(row.attempts).toBe(2);
      expect(row.last_error).toMatch(/ECONNREFUSED|connect/i);
    } finally {
      await downSender.stop();
      sender = startEmailSender({
        queue,
        mailer: createMailer(smtp.url, 'SentryHub <sentryhub@example.com>', 5_000),
        logger,
        registry: createMetricsRegistry('email-test-2'),
        maxAttempts: 3,
        retryDelayMs: 200,
        pollMs: 100,
      });
    }
  });

  it('deletes completed emails past the retention and keeps failed ones', async () => {
    const old = new Date(Date.now() - 40 * 24 * 3_600_000);
    const [completed, failed] = await database.db
      .insertInto('email_queue')
      .values([
        { kind: 'firing', recipients: ['a@example.com'], subject: 'old done', body_text: 'x', status: 'completed', updated_at: old },
        { kind: 'firing', recipients: ['a@example.com'], subject: 'old failed', body_text: 'x', status: 'failed', updated_at: old },
      ])
      .returning('id')
      .execute();
    const stop = startHousekeeping(emailQueue(database.db), 30, logger, 60_000);
    try {
      await waitFor(
        async () =>
          (await database.db
            .selectFrom('email_queue')
            .select('id')
            .where('id', '=', completed?.id ?? 0)
            .executeTakeFirst())
            ? null
            : true,
        5_000,
        'the old row deleted',
      );
      expect(
        await database.db
          .selectFrom('email_queue')
          .select('status')
          .where('id', '=', failed?.id ?? 0)
          .executeTakeFirst(),
      ).toEqual({ status: 'failed' });
    } finally {
      stop();
    }
  });
});
