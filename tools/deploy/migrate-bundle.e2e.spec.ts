import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { migrations } from '@sentryhub/db';
import { TEST_POSTGRES_URL } from '@sentryhub/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './app-contracts';

const run = promisify(execFile);

/**
 * The migration image runs `node dist/tools/migrate.js`, bundled by
 * tools/build/build-migrate.mjs: built here the same way and run with plain node (no tsx,
 * no TypeScript sources), against a database it must create, twice.
 */
describe('the bundled migration command (docker/Dockerfile --target migrate)', () => {
  const dir = join(ROOT, 'dist', `migrate-bundle-test-${randomBytes(4).toString('hex')}`);
  const bundle = join(dir, 'migrate.js');
  const name = `sentryhub_migrate_bundle_${randomBytes(4).toString('hex')}`;
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  const migrate = () => run(process.execPath, [bundle], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: url.toString() }, timeout: 60_000 });

  beforeAll(async () => {
    await run(process.execPath, ['tools/build/build-migrate.mjs', bundle], { cwd: ROOT, timeout: 60_000 });
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`drop database if exists "${name}" with (force)`);
    } finally {
      await admin.end();
    }
  });

  it('creates the database and applies every migration, then finds nothing to do', async () => {
    const first = await migrate();
    expect(first.stdout.trim().split('\n')).toEqual(Object.keys(migrations).map((migration) => `applied: ${migration}`));
    const second = await migrate();
    expect(second.stdout.trim()).toBe('database is up to date');
  });

  it('exits 1 with the reason when the database cannot be reached', async () => {
    const unreachable = run(process.execPath, [bundle], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      timeout: 60_000,
    });
    await expect(unreachable).rejects.toMatchObject({ code: 1 });
  });
});
