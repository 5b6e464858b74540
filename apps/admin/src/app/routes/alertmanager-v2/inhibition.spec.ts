import type { StoredInhibitRule } from '@sentryhub/db';
import { fingerprint } from '@sentryhub/alert-identity';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inhibitingSources } from './inhibition';

/** The inhibitor of `GET /api/v2/alerts` on a real PostgreSQL: Alertmanager's semantics, one bounded query per rule, and the one-by-one search past the bound. */
describe('inhibitingSources', () => {
  let database: TestDatabase;
  const ids = new Map<string, number>();
  const labelsOf = new Map<string, Record<string, string>>();

  async function seed(name: string, labels: Record<string, string>, status: 'firing' | 'resolved' = 'firing') {
    const row = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: fingerprint(labels),
        name: labels['alertname'] ?? name,
        labels: JSON.stringify(labels),
        severity: labels['severity'] ?? 'warning',
        instance: labels['instance'] ?? null,
        source: 'api',
        current_status: status,
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.set(name, row.id);
    labelsOf.set(name, labels);
  }
  const fp = (name: string) => fingerprint(labelsOf.get(name) ?? {});
  const targets = (...names: string[]) => names.map((name) => ({ groupId: ids.get(name) ?? 0, labels: labelsOf.get(name) ?? {} }));
  const rule = (id: number, source: [string, string, boolean][], target: [string, string, boolean][], equal: string[]): StoredInhibitRule => ({
    id,
    name: `rule ${id}`,
    sourceMatchers: source.map(([name, value, isRegex]) => ({ name, value, isRegex, isEqual: true })),
    targetMatchers: target.map(([name, value, isRegex]) => ({ name, value, isRegex, isEqual: true })),
    equal,
    comment: '',
    createdBy: 'test',
    createdAt: new Date(),
    updatedAt: new Date(),
  });
  /** A node down holds back the warnings of its instance; a critical alert those of its cluster (a missing cluster is ""). */
  const rules = [
    rule(1, [['alertname', 'NodeDown', false]], [['severity', 'warning|info', true]], ['instance']),
    rule(2, [['severity', 'crit.*', true]], [['severity', 'warning', false]], ['cluster']),
  ];
  const byName = (found: Map<number, string>) => Object.fromEntries([...ids].filter(([, id]) => found.has(id)).map(([name, id]) => [name, found.get(id)]));

  beforeAll(async () => {
    database = await createTestDatabase('admin-am-inhibition');
    await seed('node-i1', { alertname: 'NodeDown', instance: 'i1', severity: 'page' });
    await seed('disk-i1', { alertname: 'DiskSlow', instance: 'i1', severity: 'warning' });
    await seed('disk-i2', { alertname: 'DiskSlow', instance: 'i2', severity: 'warning' });
    await seed('crit-c1', { alertname: 'Crit', severity: 'critical', cluster: 'c1' });
    await seed('warn-c1', { alertname: 'Warn', severity: 'warning', cluster: 'c1' });
    await seed('warn-c2', { alertname: 'Warn', severity: 'warning', cluster: 'c2' });
    await seed('node-i3', { alertname: 'NodeDown', instance: 'i3', severity: 'page' }, 'resolved');
    await seed('disk-i3', { alertname: 'DiskSlow', instance: 'i3', severity: 'warning' });
  });

  afterAll(async () => {
    await database?.destroy();
  });

  const all = () => targets('node-i1', 'disk-i1', 'disk-i2', 'crit-c1', 'warn-c1', 'warn-c2', 'disk-i3');

  it('names the firing source of each inhibited target: equal labels, regex matchers, a resolved source does not count', async () => {
    expect(byName(await inhibitingSources(database.db, rules, all()))).toEqual({ 'disk-i1': fp('node-i1'), 'warn-c1': fp('crit-c1') });
  });

  it('finds the same past the bound, searching target by target', async () => {
    expect(byName(await inhibitingSources(database.db, rules, all(), 0))).toEqual({ 'disk-i1': fp('node-i1'), 'warn-c1': fp('crit-c1') });
  });

  it('the first rule in order wins; no rule, no inhibition', async () => {
    // disk-i1 is a warning on cluster "" too: a critical source without a cluster would inhibit it under rule 2 as well.
    await seed('crit-none', { alertname: 'Crit', severity: 'critical', instance: 'other' });
    expect(byName(await inhibitingSources(database.db, rules, targets('disk-i1', 'disk-i2')))).toEqual({
      'disk-i1': fp('node-i1'),
      'disk-i2': fp('crit-none'),
    });
    expect(byName(await inhibitingSources(database.db, [...rules].reverse(), targets('disk-i1')))).toEqual({ 'disk-i1': fp('crit-none') });
    expect((await inhibitingSources(database.db, [], all())).size).toBe(0);
  });

  it('two alerts that each match both sides do not inhibit each other; a source-only alert inhibits both', async () => {
    const twoSided = [rule(3, [['a', 'x', false]], [['b', 'y', false]], [])];
    await seed('both-1', { alertname: 'Both1', a: 'x', b: 'y' });
    await seed('both-2', { alertname: 'Both2', a: 'x', b: 'y' });
    expect(byName(await inhibitingSources(database.db, twoSided, targets('both-1', 'both-2')))).toEqual({});
    expect(byName(await inhibitingSources(database.db, twoSided, targets('both-1', 'both-2'), 0))).toEqual({});
    await seed('only-a', { alertname: 'OnlyA', a: 'x' });
    expect(byName(await inhibitingSources(database.db, twoSided, targets('both-1', 'both-2', 'only-a')))).toEqual({
      'both-1': fp('only-a'),
      'both-2': fp('only-a'),
    });
  });
});
