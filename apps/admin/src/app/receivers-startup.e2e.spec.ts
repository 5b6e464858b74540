import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** The admin's entry point (through tsx): a bad receivers file stops it before it connects anything. */
async function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  try {
    await run('npx', ['tsx', 'apps/admin/src/main.ts'], {
      env: { ...process.env, ...env, PORT: '0', RABBITMQ_PORT: '1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      timeout: 60_000,
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

describe('admin start-up with WEBHOOK_RECEIVERS_FILE', () => {
  it('exits 1 naming the problem of a bad receivers file, and never prints the literal it refuses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'admin-receivers-'));
    const file = join(dir, 'receivers.json');
    writeFileSync(
      file,
      JSON.stringify({ pd: { url: 'https://events.pagerduty.com/v2/enqueue', headers: { Authorization: 'Bearer literal-that-must-not-leak' } } }),
    );
    const result = await start({ WEBHOOK_RECEIVERS_FILE: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/invalid configuration: WEBHOOK_RECEIVERS_FILE .*pd\.headers\.Authorization: must be \{ env: VARIABLE_NAME \}/);
    expect(result.stderr).not.toContain('literal-that-must-not-leak');
  }, 90_000);

  it('exits 1 naming a receivers file it cannot read', async () => {
    const result = await start({ WEBHOOK_RECEIVERS_FILE: '/nonexistent/receivers.yaml' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('invalid configuration: WEBHOOK_RECEIVERS_FILE: cannot read /nonexistent/receivers.yaml');
  }, 90_000);
});
