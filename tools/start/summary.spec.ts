import { describe, expect, it } from 'vitest';
import { formatSummary, type StartSummary } from './summary.mjs';

const ESC = String.fromCharCode(27);

const ready = (name: string, url: string, note?: string) => ({ name, url, ready: true, ...(note ? { note } : {}) });

describe('the npm start summary', () => {
  it('lists each service with its URL and readiness, the console, open intake and the bootstrap key', () => {
    const summary: StartSummary = {
      services: [
        ready('webhook-gateway', 'http://localhost:8080', 'POST /api/v1/webhooks/alertmanager'),
        ready('alert-processor', 'http://localhost:9102/readyz'),
        ready('admin', 'http://localhost:8081'),
      ],
      seconds: 7,
      consoleUrl: 'http://localhost:8081/',
      intake: { open: true },
      apiKey: { kind: 'bootstrap' },
    };
    const text = formatSummary(summary);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('SentryHub is running: 3 services ready after 7 s');
    expect(lines[1]).toMatch(/^ {2}webhook-gateway {2}http:\/\/localhost:8080 +ready {6}POST \/api\/v1\/webhooks\/alertmanager$/);
    expect(lines[2]).toMatch(/^ {2}alert-processor {2}http:\/\/localhost:9102\/readyz {2}ready/);
    expect(lines[3]).toMatch(/^ {2}admin +http:\/\/localhost:8081 +ready/);
    expect(text).toContain('  console          http://localhost:8081/');
    expect(text).toContain('intake:   open (WEBHOOK_ALLOW_ANONYMOUS=true); set WEBHOOK_TOKENS to require a token');
    expect(text).toContain('ADMIN_BOOTSTRAP_KEY is an admin key');
    expect(text).toContain('npm run demo');
    expect(text).not.toContain(`${ESC}[`); // no colour codes unless asked for
  });

  it('says which service is not ready and why, and how to get the first API key', () => {
    const text = formatSummary({
      services: [
        ready('webhook-gateway', 'http://localhost:8080'),
        {
          name: 'slack-notifier',
          url: 'http://localhost:9103/readyz',
          ready: false,
          reasons: { database: 'cannot reach PostgreSQL: ECONNREFUSED', broker: 'starting' },
        },
      ],
      seconds: 60,
      consoleUrl: 'http://localhost:8081/',
      intake: { open: false },
      apiKey: { kind: 'none' },
    });
    expect(text).toMatch(/^SentryHub: 1 of 2 services ready after 60 s/);
    expect(text).toMatch(
      /slack-notifier +http:\/\/localhost:9103\/readyz {2}not ready {2}\(database: cannot reach PostgreSQL: ECONNREFUSED; broker: starting\)/,
    );
    expect(text).toContain('intake:   requires one of WEBHOOK_TOKENS');
    expect(text).toContain('ADMIN_BOOTSTRAP_KEY=<a secret of 16+ characters> npm start');
  });

  it('counts existing keys and leaves out what was not started', () => {
    const text = formatSummary({ services: [ready('alert-processor', 'http://localhost:9102/readyz')], seconds: 3, apiKey: { kind: 'exists', count: 2 } });
    expect(text).toContain('2 API keys already exist');
    expect(text).not.toContain('console ');
    expect(text).not.toContain('intake:');
    expect(formatSummary({ services: [ready('admin', 'http://localhost:8081')], seconds: 1 }, { color: true })).toContain(`${ESC}[32m`);
  });
});
