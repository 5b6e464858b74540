import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, parseExternalMessage, tooDeep } from './parse-external-message';

function failure(json: unknown): { path: string; message: string } {
  const result = parseExternalMessage(json);
  if (result.success) throw new Error(`expected ${JSON.stringify(json)} to be rejected`);
  const issue = result.error.issues[0];
  return { path: issue?.path.map(String).join('.') ?? '', message: issue?.message ?? '' };
}

describe('parseExternalMessage', () => {
  it('accepts the three shapes of the external intake message', () => {
    const webhook = {
      version: '4',
      groupKey: 'g',
      status: 'firing',
      receiver: 'r',
      alerts: [{ status: 'firing', labels: { alertname: 'X' }, startsAt: '2025-01-01T00:00:00Z' }],
    };
    expect(parseExternalMessage(webhook)).toMatchObject({
      success: true,
      data: { alerts: { kind: 'webhook', payload: { receiver: 'r', truncatedAlerts: 0 }, alerts: [{ labels: { alertname: 'X' } }] }, rejected: [] },
    });
    expect(parseExternalMessage({ labels: { alertname: 'X' } })).toMatchObject({
      success: true,
      data: { alerts: { kind: 'postable', alerts: [{ annotations: {} }] } },
    });
    expect(parseExternalMessage([{ labels: { alertname: 'X' } }, { labels: { alertname: 'Y' } }])).toMatchObject({
      success: true,
      data: { alerts: { kind: 'postable', alerts: [{ labels: { alertname: 'X' } }, { labels: { alertname: 'Y' } }] }, rejected: [] },
    });
  });

  it('names the field at fault instead of the union\'s bare "Invalid input"', () => {
    expect(failure({ hello: 'world' })).toEqual({ path: 'labels', message: expect.stringMatching(/expected record/) });
    expect(failure([{ foo: 1 }])).toEqual({ path: '0.labels', message: expect.stringMatching(/expected record/) });
    // One bad alert among good ones is refused alone, naming its field; the good one is kept.
    expect(parseExternalMessage([{ labels: { alertname: 'ok' } }, { foo: 1 }])).toMatchObject({
      success: true,
      data: {
        alerts: { alerts: [{ labels: { alertname: 'ok' } }] },
        rejected: [{ index: 1, refusal: 'invalid_alert', reason: expect.stringMatching(/^labels: .*expected record/) }],
      },
    });
    expect(failure({ labels: { alertname: 'X' }, startsAt: 'yesterday' })).toEqual({ path: 'startsAt', message: expect.stringMatching(/datetime/i) });
  });

  it('says which shapes are accepted when the JSON is not an object or array', () => {
    for (const [json, kind] of [
      ['text', 'string'],
      [42, 'number'],
      [null, 'null'],
      [true, 'boolean'],
    ] as const) {
      expect(failure(json)).toEqual({ path: '', message: expect.stringMatching(new RegExp(`^expected an Alertmanager webhook payload.*got ${kind}$`)) });
    }
  });

  it("judges a body with a version as a webhook, with the webhook's own errors", () => {
    expect(failure({ version: '4', groupKey: 'g', status: 'firing', receiver: 'r', alerts: [] })).toEqual({
      path: 'alerts',
      message: 'alerts must not be empty',
    });
    expect(failure({ version: '3', groupKey: 'g', status: 'firing', receiver: 'r', alerts: [] }).path).toBe('version');
    expect(failure([])).toEqual({ path: '', message: 'alerts must not be empty' });
  });

  it('refuses JSON nested deeper than MAX_DEPTH before judging its shape, naming the path, without recursion', () => {
    const nested = (levels: number, inner: unknown): unknown => {
      let value = inner;
      for (let level = 0; level < levels; level++) value = { a: value };
      return value;
    };
    const alert = { labels: { alertname: 'X' } };
    // A webhook's labels sit 4 levels down; extras may go deeper, up to the limit.
    expect(parseExternalMessage({ ...alert, detail: nested(MAX_DEPTH - 1, 1) }).success).toBe(true);
    expect(failure({ ...alert, detail: nested(MAX_DEPTH, 1) })).toEqual({
      path: ['detail', ...Array<string>(MAX_DEPTH - 1).fill('a')].join('.'),
      message: `nested deeper than ${MAX_DEPTH} levels`,
    });
    // Far deeper than any call stack: found iteratively (a recursive walk would overflow).
    expect(tooDeep(nested(1_000_000, [])) ?? []).toHaveLength(MAX_DEPTH);
    expect(tooDeep([[[]]], 3)).toBeNull();
    expect(tooDeep([[[[]]]], 3)).toEqual([0, 0, 0]);
  });
});
