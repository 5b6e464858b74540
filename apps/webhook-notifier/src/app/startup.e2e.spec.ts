import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** The notifier's entry point, as `npm start` runs it (through tsx here): it must refuse a bad receivers file before connecting anything. */
async function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  try {
    await run('npx', ['tsx', 'apps/webhook-notifier/src/main.ts'], {
      env: { ...process.env, ...env, RABBITMQ_PORT: '1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      timeout: 60_000,
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

describe('webhook-notifier start-up', () => {
  it('exits 1 naming the receiver and the missing variable, and never prints a value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'receivers-'));
    const file = join(dir, 'receivers.yaml');
    writeFileSync(
      file,
      'pd:\n  url: https://events.pagerduty.com/v2/enqueue\n  headers:\n    X-Token: { env: WH_TEST_TOKEN }\n  params:\n    routingKey: { env: WH_TEST_MISSING }\n',
    );
    const result = await start({ WEBHOOK_RECEIVERS_FILE: file, WH_TEST_TOKEN: 'value-that-must-not-leak' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('invalid configuration: receiver pd: param routingKey: environment variable WH_TEST_MISSING is not set');
    expect(result.stderr).not.toContain('value-that-must-not-leak');
  }, 90_000);

  it('exits 1 on a literal secret in the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'receivers-'));
    const file = join(dir, 'receivers.json');
    writeFileSync(file, JSON.stringify({ pd: { url: 'https://events.pagerduty.com/v2/enqueue', headers: { Authorization: 'Bearer literal' } } }));
    const result = await start({ WEBHOOK_RECEIVERS_FILE: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/invalid configuration: WEBHOOK_RECEIVERS_FILE .*pd\.headers\.Authorization: must be \{ env: VARIABLE_NAME \}/);
  }, 90_000);
});
