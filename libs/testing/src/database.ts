import { randomBytes } from 'node:crypto';
import { createDb, migrateDatabase, type Database } from '@sentryhub/db';
import type { Kysely } from 'kysely';
import pg from 'pg';

export const TEST_POSTGRES_URL = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  db: Kysely<Database>;
  destroy(): Promise<void>;
}

/** A throwaway database, migrated to latest; destroy() drops it. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `sentryhub_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  const { error } = await migrateDatabase(url.toString());
  if (error) throw error;
  const db = createDb(url.toString(), { maxConnections: 5 });
  return {
    url: url.toString(),
    db,
    destroy: async () => {
      await db.destroy();
      const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await admin.connect();
      try {
        await admin.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}
