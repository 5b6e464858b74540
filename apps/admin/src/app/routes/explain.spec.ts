import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from '../api-keys';
import { buildAdmin } from '../app';

const logger = createLogger('admin-explain-webhook-test', 'silent');
const BOOTSTRAP = 'bootstrap-admin-key-explain-webhook';

/** Explain covers webhook rules as it covers Slack and email ones: the search with continue, the decision, the receiver. On a real PostgreSQL. */
describe('POST /api/v1/explain: webhook rules', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  const explain = async (labels: Record<string, string>) => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/explain', headers: { authorization: `Bearer ${BOOTSTRAP}` }, payload: { labels } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  };
  type Applied = { rule: string; decision: string; reason: string | null; receiver: string };

  beforeAll(async () => {
    database = await createTestDatabase('admin-explain-webhook');
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('admin-explain-webhook-test'),
      defaultChannel: '#general',
    });
    const rule = (name: string, priority: number, criteria: object, receiver: string, more: { continue?: boolean; is_active?: boolean } = {}) => ({
      name,
      priority,
      match_criteria: JSON.stringify(criteria),
      receiver,
      preset: 'alertmanager',
      ...more,
    });
    await database.db
      .insertInto('webhook_rules')
      .values([
        rule('hook-storage', 30, { team: 'storage' }, 'storage-hook', { continue: true }),
        rule('hook-critical', 20, { severity: 'critical' }, 'pager-hook'),
        rule('hook-all', 0, {}, 'all-hook'),
        rule('hook-off', 40, {}, 'off-hook', { is_active: false }),
      ])
      .execute();
  });

  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('lists every webhook rule in the order of the search, applies them with continue and names each receiver', async () => {
    const x = await explain({ alertname: 'DiskFull', team: 'storage', severity: 'critical', instance: 'db-1' });
    expect(x.webhook.rules.map((r: { name: string; outcome: string }) => [r.name, r.outcome])).toEqual([
      ['hook-off', 'inactive'],
      ['hook-storage', 'applied'],
      ['hook-critical', 'applied'],
      ['hook-all', 'not-reached'],
    ]);
    expect(x.webhook.applied.map((a: Applied) => [a.rule, a.decision, a.receiver])).toEqual([
      ['hook-storage', 'send', 'storage-hook'],
      ['hook-critical', 'send', 'pager-hook'],
    ]);
    expect(x.webhook).toMatchObject({ winner: 'hook-storage', stoppedAt: 'hook-critical', receiver: 'storage-hook' });
    expect(x.webhook.rules[3].reason).toBe('not tried: the search stopped at "hook-critical" (no continue); it would match');

    const web = await explain({ alertname: 'HighCPU', team: 'web', severity: 'warning' });
    expect(web.webhook.applied.map((a: Applied) => a.rule)).toEqual(['hook-all']);
    expect(web.webhook.rules.find((r: { name: string }) => r.name === 'hook-storage')).toMatchObject({ outcome: 'no-match', matched: false });
  });

  it('a silence or a firing inhibiting source holds the webhook rules back, as the other kinds', async () => {
    const target = { alertname: 'DiskSlow', severity: 'warning', instance: 'db-7' };
    await database.db
      .insertInto('inhibit_rules')
      .values({
        name: 'node down',
        source_matchers: JSON.stringify([{ name: 'alertname', value: 'NodeDown', isEqual: true, isRegex: false }]),
        target_matchers: JSON.stringify([{ name: 'severity', value: 'warning', isEqual: true, isRegex: false }]),
        equal: ['instance'],
        created_by: 'test',
      })
      .execute();
    expect((await explain(target)).webhook.applied.map((a: Applied) => a.decision)).toEqual(['send']);
    await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: '00000000000000aa',
        name: 'NodeDown',
        labels: JSON.stringify({ alertname: 'NodeDown', instance: 'db-7' }),
        severity: 'critical',
        instance: 'db-7',
        source: 'webhook',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .execute();
    const inhibited = await explain(target);
    expect(inhibited.webhook.applied.map((a: Applied) => [a.rule, a.decision])).toEqual([['hook-all', 'inhibited']]);
    expect(inhibited.webhook.applied[0].reason).toMatch(/^inhibited by alert group \d+ \(inhibit rule "node down"/);
    expect(inhibited.slack.applied).toEqual([]);

    await database.db
      .insertInto('silences')
      .values({
        matchers: JSON.stringify([{ name: 'instance', value: 'db-9', isEqual: true, isRegex: false }]),
        starts_at: new Date(Date.now() - 60_000),
        ends_at: new Date(Date.now() + 3_600_000),
        created_by: 'test',
        comment: 'db-9 work',
      })
      .execute();
    const silenced = await explain({ ...target, instance: 'db-9' });
    expect(silenced.webhook.applied.map((a: Applied) => [a.rule, a.decision])).toEqual([['hook-all', 'suppressed']]);
    expect(silenced.webhook.applied[0].reason).toMatch(/^silenced until /);
  });
});
