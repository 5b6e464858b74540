import { activeSilences, type AlertGroup } from '@sentryhub/db';
import { silenceMatches, silenceState } from '@sentryhub/rules';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import {
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';
import { SCAN_BATCH } from './silence-sql';

const logger = createLogger('bounded-lists-test', 'silent');
const GROUPS = 1_300;

/** Records the largest number of rows any one query returned: what a request held at most. */
class RowsHeld implements KyselyPlugin {
  max = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.max = Math.max(this.max, args.result.rows.length);
    return args.result;
  }
}

/**
 * Silence filters and silence matches page in PostgreSQL: the results equal the silence
 * semantics of libs/rules applied to every group, while no query returns more than a batch.
 */
describe('admin list and match endpoints hold at most a page of rows', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  const held = new RowsHeld();
  let editor = '';
  let viewer = '';

  const get = async (url: string) => {
    const response = await app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${viewer}` } });
    expect(response.statusCode, `${url}: ${response.body.slice(0, 300)}`).toBe(200);
    return response.json();
  };
  const names = (items: { name: string }[]) => items.map((item) => item.name);

  /** Every group newest first, in PostgreSQL's order (microseconds and ties included). */
  const allGroups = () => database.db.selectFrom('alert_groups').selectAll().orderBy('last_occurrence', 'desc').orderBy('id', 'desc').execute();

  async function silence(matchers: { name: string; value: string; isEqual: boolean; isRegex: boolean }[]): Promise<number> {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/silences',
      headers: { authorization: `Bearer ${editor}` },
      payload: {
        matchers,
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        createdBy: 'test',
        comment: 'bounded lists',
      },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id;
  }

  async function expectSilencedPagesMatchTheRules() {
    const now = new Date();
    const silences = await activeSilences(database.db, now);
    const groups = await allGroups();
    for (const silenced of [true, false]) {
      const expected = groups.filter((group) => silenceState(silences, group.labels, now).silenced === silenced).map((group) => group.name);
      expect(expected.length).toBeGreaterThan(100);
      for (const [page, pageSize] of [
        [1, 50],
        [3, 37],
        [Math.ceil(expected.length / 200), 200],
        [Math.ceil(expected.length / 200) + 1, 200],
      ] as const) {
        held.max = 0;
        const body = await get(`/alert-groups?silenced=${silenced}&page=${page}&pageSize=${pageSize}`);
        expect(body.total, `silenced=${silenced}`).toBe(expected.length);
        expect(names(body.items), `silenced=${silenced} page ${page}`).toEqual(expected.slice((page - 1) * pageSize, page * pageSize));
        expect(body.items.every((item: { silenced: boolean }) => item.silenced === silenced)).toBe(true);
        expect(held.max).toBeLessThanOrEqual(Math.max(SCAN_BATCH, pageSize));
      }
    }
  }

  async function expectMatchesFollowTheRules(silenceId: number) {
    const now = new Date();
    const [silenceRow] = (await activeSilences(database.db, now)).filter((one) => one.id === silenceId);
    if (!silenceRow) throw new Error(`silence ${silenceId} is not active`);
    const expected = (await allGroups())
      .filter((group: AlertGroup) => group.current_status === 'firing' && silenceMatches(silenceRow, group.labels, now))
      .map((group) => group.name);
    expect(expected.length).toBeGreaterThan(30);
    for (const limit of [30, expected.length, 500]) {
      held.max = 0;
      const body = await get(`/silences/${silenceId}/matches?limit=${limit}`);
      expect(names(body.items)).toEqual(expected.slice(0, limit));
      expect(body.more).toBe(expected.length > limit);
      expect(held.max).toBeLessThanOrEqual(Math.max(SCAN_BATCH, limit + 1));
    }
  }

  beforeAll(async () => {
    database = await createTestDatabase('bounded_lists');
    const store = apiKeyStore(database.db);
    editor = (await store.create('editor', 'editor')).key;
    viewer = (await store.create('viewer', 'viewer')).key;
    app = await buildAdmin({
      logger,
      db: database.db.withPlugin(held),
      keys: store,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('bounded-lists-test'),
      defaultChannel: '#general',
    });
    // Groups with shared and microsecond-apart last occurrences (the keyset must not skip or repeat any);
    // `env` only on some, so that a matcher on a missing label ("") is exercised.
    await sql`
      insert into alert_groups (fingerprint, name, labels, severity, instance, source, current_status, firing_count, first_occurrence, last_occurrence)
      select lpad(to_hex(g), 16, '0'), 'G' || g,
             jsonb_build_object('alertname', 'G' || g, 'team', case when g % 3 = 0 then 'a' else 'b' end, 'instance', 'web-' || g)
               || case when g % 4 = 0 then jsonb_build_object('env', 'prod') else '{}'::jsonb end,
             'warning', 'web-' || g, 'webhook', case when g % 10 = 0 then 'resolved' else 'firing' end, 1,
             timestamptz '2026-11-26 08:00:00+00' + (g % 450) * interval '1.000017 second',
             timestamptz '2026-11-26 08:00:00+00' + (g % 450) * interval '1.000017 second'
      from generate_series(1, ${GROUPS}) as g`.execute(database.db);
  });

  beforeEach(() => {
    held.max = 0;
  });

  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('filters by silence in SQL when every active silence is made of equality matchers', async () => {
    const id = await silence([
      { name: 'team', value: 'a', isEqual: true, isRegex: false },
      { name: 'env', value: '', isEqual: true, isRegex: false },
    ]);
    await expectSilencedPagesMatchTheRules();
    await expectMatchesFollowTheRules(id);
  });

  it('filters by a regex silence batch by batch, with the same results as the rules', async () => {
    const id = await silence([
      { name: 'team', value: 'b', isEqual: true, isRegex: false },
      { name: 'instance', value: 'web-1[0-9]*', isEqual: true, isRegex: true },
    ]);
    await silence([
      { name: 'instance', value: 'web-[0-9]*[05]', isEqual: false, isRegex: true },
      { name: 'env', value: 'prod', isEqual: false, isRegex: false },
    ]);
    await expectSilencedPagesMatchTheRules();
    await expectMatchesFollowTheRules(id);
  });

  it('bounds the matches limit, and shows nothing for a silence that is not active', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/silences/1/matches?limit=501', headers: { authorization: `Bearer ${viewer}` } });
    expect(response.statusCode).toBe(400);
    expect(response.json().issues[0].path).toBe('limit');
    const pending = await app.inject({
      method: 'POST',
      url: '/api/v1/silences',
      headers: { authorization: `Bearer ${editor}` },
      payload: {
        matchers: [{ name: 'team', value: 'a', isEqual: true, isRegex: false }],
        startsAt: new Date(Date.now() + 3_600_000).toISOString(),
        endsAt: new Date(Date.now() + 7_200_000).toISOString(),
        createdBy: 'test',
        comment: 'later',
      },
    });
    expect(await get(`/silences/${pending.json().id}/matches`)).toEqual({ items: [], more: false });
  });
});
