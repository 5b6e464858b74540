import { describe, expect, it } from 'vitest';
import { parseWebhookReceivers, resolveWebhookReceivers, summarizeWebhookReceivers, WebhookReceiversError } from './webhook-receivers';

const problemsOf = (run: () => unknown): string[] => {
  try {
    run();
  } catch (error) {
    if (error instanceof WebhookReceiversError) return error.problems;
    throw error;
  }
  throw new Error('expected a WebhookReceiversError');
};

describe('webhook receivers file', () => {
  const file = `
pagerduty:
  url: https://events.pagerduty.com/v2/enqueue
  params: { routingKey: { env: PD_KEY } }
hook:
  url: { env: HOOK_URL }
  headers:
    Authorization: { env: HOOK_AUTH }
  hmacSecretEnv: HOOK_HMAC
  timeoutMs: 2500
`;

  it('reads YAML and JSON, values from the environment', () => {
    const receivers = resolveWebhookReceivers(parseWebhookReceivers(file), {
      PD_KEY: 'k1',
      HOOK_URL: 'https://hooks.example/x?sig=s3cret',
      HOOK_AUTH: 'Bearer t',
      HOOK_HMAC: 'h',
    });
    expect(receivers.get('pagerduty')).toMatchObject({ params: { routingKey: 'k1' }, headers: {}, hmacSecret: null, timeoutMs: 10_000 });
    expect(receivers.get('hook')).toMatchObject({
      headers: { Authorization: 'Bearer t' },
      hmacSecret: 'h',
      signatureHeader: 'X-SentryHub-Signature',
      timeoutMs: 2500,
    });
    expect(receivers.get('hook')?.url.href).toBe('https://hooks.example/x?sig=s3cret');
    const json = parseWebhookReceivers(JSON.stringify({ a: { url: 'http://127.0.0.1:9/a' } }));
    expect(Object.keys(json)).toEqual(['a']);
  });

  it('names every variable that is not set', () => {
    expect(problemsOf(() => resolveWebhookReceivers(parseWebhookReceivers(file), { PD_KEY: 'k1' }))).toEqual([
      'receiver hook: url: environment variable HOOK_URL is not set',
      'receiver hook: header Authorization: environment variable HOOK_AUTH is not set',
      'receiver hook: hmacSecretEnv: environment variable HOOK_HMAC is not set',
    ]);
  });

  it('refuses literal header values, credentials in the URL, reserved headers, bad names and bad YAML, naming the place', () => {
    expect(problemsOf(() => parseWebhookReceivers('x:\n  url: https://h.example/\n  headers:\n    Authorization: Bearer literal-secret\n')).join('\n')).toMatch(
      /x\.headers\.Authorization: must be \{ env: VARIABLE_NAME \}/,
    );
    expect(problemsOf(() => parseWebhookReceivers('x:\n  url: https://user:pw@h.example/\n')).join('\n')).toMatch(
      /x\.url: .*must not carry a user or password/,
    );
    expect(problemsOf(() => parseWebhookReceivers('x:\n  url: https://h.example/\n  headers:\n    Content-Type: { env: A }\n')).join('\n')).toMatch(
      /x\.headers: may not set content-type/,
    );
    expect(problemsOf(() => parseWebhookReceivers('"bad name!":\n  url: https://h.example/\n')).join('\n')).toMatch(/a receiver name is/);
    expect(problemsOf(() => parseWebhookReceivers('x:\n  url: ftp://h.example/\n')).join('\n')).toMatch(/x\.url/);
    expect(problemsOf(() => parseWebhookReceivers('x: [unclosed')).join('\n')).toMatch(/not valid YAML or JSON/);
    expect(problemsOf(() => parseWebhookReceivers('x:\n  url: https://h.example/\n  extra: 1\n')).join('\n')).toMatch(/extra/);
  });

  it('summarizes without any value: header and param names only, the URL without its query, or the variable it comes from', () => {
    const summary = summarizeWebhookReceivers(
      parseWebhookReceivers(file.replace('https://events.pagerduty.com/v2/enqueue', 'https://events.pagerduty.com/v2/enqueue?token=abc')),
    );
    expect(summary).toEqual([
      {
        name: 'hook',
        url: null,
        urlEnv: 'HOOK_URL',
        headers: ['Authorization'],
        params: [],
        signed: true,
        signatureHeader: 'X-SentryHub-Signature',
        resolvedPath: null,
        timeoutMs: 2500,
      },
      {
        name: 'pagerduty',
        url: 'https://events.pagerduty.com/v2/enqueue?…',
        urlEnv: null,
        headers: [],
        params: ['routingKey'],
        signed: false,
        signatureHeader: null,
        resolvedPath: null,
        timeoutMs: 10_000,
      },
    ]);
    expect(JSON.stringify(summary)).not.toContain('abc');
  });
});
