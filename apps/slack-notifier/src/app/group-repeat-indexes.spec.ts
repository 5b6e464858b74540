import { notificationRepo } from '@sentryhub/db';
import { createTestDatabase, indexesReadBy, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A grouped rule's repeat, every repeat interval for every group: never a read of the whole table of notifications. */
describe('the queries of a group repeat', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('group_repeat_indexes');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it.each(['slack', 'webhook'] as const)('%s: the firings told in a group and the rows waiting in it are read through indexes', async (notifier) => {
    const told = await indexesReadBy(database.url, (db) => notificationRepo(db, { notifier }).firingsToldInGroup(1, '{team="web"}', 500));
    expect(told).toContain('notifications_group_told');
    const waiting = await indexesReadBy(database.url, (db) => notificationRepo(db, { notifier }).pendingInGroup(1, '{team="web"}', 500, 'repeats'));
    expect(waiting).toContain('notifications_group_pending');
  });
});
