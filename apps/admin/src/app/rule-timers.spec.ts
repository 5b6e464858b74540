import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

const logger = createLogger('admin-rule-timers-test', 'silent');
const BOOTSTRAP = 'bootstrap-admin-key-timers-01234';

/** A rule's repeatInterval, escalateTo and escalateAfter through the admin API, on a real PostgreSQL. */
describe('admin API: repeats and escalation on rules', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
    app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${BOOTSTRAP}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const slackRule = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    matchCriteria: { team: 'ops' },
    slackChannel: '#ops',
    messageTemplate: '{{ alert_group.name }}',
    ...extra,
  });
  const emailRule = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    recipients: ['ops@example.com'],
    subjectTemplate: '{{ alert_group.name }}',
    bodyTemplate: '{{ status }}',
    ...extra,
  });

  beforeAll(async () => {
    database = await createTestDatabase('admin-rule-timers');
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('admin-rule-timers-test'),
      defaultChannel: '#general',
    });
  });

  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('stores the fields (columns repeat_interval, escalate_to, escalate_after) and returns them; absent means none', async () => {
    const manager = (await call('POST', '/slack-rules', slackRule('manager'))).json();
    expect(manager).toMatchObject({ repeatInterval: null, escalateTo: null, escalateAfter: null });
    const created = await call('POST', '/slack-rules', slackRule('ops', { repeatInterval: '4h', escalateTo: manager.id, escalateAfter: '30m' }));
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ repeatInterval: '4h', escalateTo: manager.id, escalateAfter: '30m' });
    const row = await database.db
      .selectFrom('slack_rules')
      .select(['repeat_interval', 'escalate_to', 'escalate_after'])
      .where('id', '=', created.json().id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ repeat_interval: '4h', escalate_to: manager.id, escalate_after: '30m' });
    const cleared = await call('PUT', `/slack-rules/${created.json().id}`, slackRule('ops'));
    expect(cleared.json()).toMatchObject({ repeatInterval: null, escalateTo: null, escalateAfter: null });
  });

  it('refuses a bad duration or escalation with a 400 naming the problem', async () => {
    const badRepeat = await call('POST', '/slack-rules', slackRule('bad-repeat', { repeatInterval: '5 minutes' }));
    expect(badRepeat.statusCode).toBe(400);
    expect(badRepeat.body).toContain('repeatInterval must be a duration greater than zero');
    const zero = await call('POST', '/email-rules', emailRule('zero', { repeatInterval: '0' }));
    expect(zero.statusCode).toBe(400);
    expect(zero.body).toContain('repeatInterval');
    const noDelay = await call('POST', '/slack-rules', slackRule('no-delay', { escalateTo: 1 }));
    expect(noDelay.statusCode).toBe(400);
    expect(noDelay.body).toContain('escalateAfter is required with escalateTo');
    const missing = await call('POST', '/email-rules', emailRule('missing', { escalateTo: 99_999, escalateAfter: '10m' }));
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toContain('99999 not found');
    // Another kind's rule id does not count: escalation stays within a kind.
    const slackId = (await call('GET', '/slack-rules')).json().items[0].id;
    const otherKind = await call('POST', '/email-rules', emailRule('other-kind', { escalateTo: slackId, escalateAfter: '10m' }));
    expect(otherKind.statusCode).toBe(400);
    const self = (await call('POST', '/email-rules', emailRule('self'))).json();
    const toSelf = await call('PUT', `/email-rules/${self.id}`, emailRule('self', { escalateTo: self.id, escalateAfter: '10m' }));
    expect(toSelf.statusCode).toBe(400);
    expect(toSelf.body).toContain('another rule');
  });

  it('stores grouping (groupBy, groupWait, groupInterval) and refuses a bad label name or duration', async () => {
    const created = await call('POST', '/slack-rules', slackRule('grouped', { groupBy: ['alertname', 'team'], groupWait: '30s', groupInterval: '5m' }));
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ groupBy: ['alertname', 'team'], groupWait: '30s', groupInterval: '5m' });
    const row = await database.db
      .selectFrom('slack_rules')
      .select(['group_by', 'group_wait', 'group_interval'])
      .where('id', '=', created.json().id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ group_by: ['alertname', 'team'], group_wait: '30s', group_interval: '5m' });
    const badLabel = await call('POST', '/slack-rules', slackRule('bad-label', { groupBy: ['team-name'] }));
    expect(badLabel.statusCode).toBe(400);
    expect(badLabel.body).toContain('label name');
    const badWait = await call('POST', '/email-rules', emailRule('bad-wait', { groupWait: 'soon' }));
    expect(badWait.statusCode).toBe(400);
    expect(badWait.body).toContain('groupWait must be a duration');
  });
});
