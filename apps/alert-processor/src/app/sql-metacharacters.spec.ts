import { randomUUID } from 'node:crypto';
import { PostableAlerts } from '@sentryhub/contracts';
import { normalizeIntakeBody } from '@sentryhub/alert-identity';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeBatch } from '@sentryhub/alert-state';

/**
 * Hostile text accepted at intake is stored verbatim: SQL metacharacters, quotes, comment
 * markers, LIKE wildcards, backslashes, control characters and emoji, in label names, label
 * values and annotations. Through the same schema the gateway uses and the processor's real
 * storeBatch, against a throwaway PostgreSQL database.
 */
describe('SQL metacharacters and control characters are stored verbatim', () => {
  let test: TestDatabase;

  beforeAll(async () => {
    test = await createTestDatabase('faults_sql');
  });
  afterAll(async () => {
    await test?.destroy();
  });

  it('round-trips every hostile string through intake parsing and storeBatch', async () => {
    const hostile = [
      "x'); DROP TABLE alert_groups; --",
      "O'Brien",
      '"; DELETE FROM notifications WHERE 1=1; --',
      '%_\\% LIKE \\_ $1 $$ $tag$ ::jsonb',
      '/* comment */ -- line',
      'tab\there\r\nnew line \u0001\u001b[31m red \u007f',
      '{"json": [1, 2]} \\u0000 (escaped text, not NUL)',
      'emoji 🔥 and ünïcödé',
    ];
    const body = PostableAlerts.parse(
      hostile.map((value, i) => ({
        // Label names keep Prometheus's grammar (an intake bound); hostile names go in the annotations.
        labels: { alertname: `SqlMeta-${i}-${randomUUID()}`, [`k_${i}`]: value, instance: value, severity: value },
        annotations: { summary: value, [value]: value },
        generatorURL: value,
      })),
    );
    const receivedAt = new Date();
    const { alerts } = normalizeIntakeBody(body, receivedAt);
    const events = await storeBatch(
      test.db,
      randomUUID(),
      alerts.map((alert) => ({ alert, source: 'api', receivedAt, correlationId: "c'; --" })),
    );
    expect(events.flatMap((event) => event.payload.changes)).toHaveLength(hostile.length);

    for (const alert of alerts) {
      const group = await test.db.selectFrom('alert_groups').selectAll().where('fingerprint', '=', alert.fingerprint).executeTakeFirstOrThrow();
      expect(group.labels).toEqual(alert.labels);
      expect(group.name).toBe(alert.labels['alertname']);
      expect(group.instance).toBe(alert.labels['instance']);
      const instance = await test.db.selectFrom('alert_instances').selectAll().where('group_id', '=', group.id).executeTakeFirstOrThrow();
      expect(instance.annotations).toEqual(alert.annotations);
      expect(instance.generator_url).toBe(alert.generatorURL);
    }
    // The tables are all still there and hold exactly what was sent.
    const count = await test.db
      .selectFrom('alert_groups')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(hostile.length);
  });
});
