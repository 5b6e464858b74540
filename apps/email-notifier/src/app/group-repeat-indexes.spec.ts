import { createTestDatabase, indexesReadBy, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailQueue } from './email-queue';

/** A grouped email rule's repeat, every repeat interval for every group: never a read of the whole email queue. */
describe('the queries of a group repeat', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('email_group_repeat_indexes');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('the firings told in a group are read through an index', async () => {
    const told = await indexesReadBy(database.url, (db) => emailQueue(db).firingsToldInGroup(1, '{team="web"}', 500));
    expect(told).toContain('email_queue_group_told');
  });
});
