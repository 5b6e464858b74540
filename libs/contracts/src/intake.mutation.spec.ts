import { describe, expect, it } from 'vitest';
import { DurationEnv, INTAKE_BOUNDS, jsonValueProblem, LabelSet, MAX_JSON_DEPTH, parseIntakeAlerts, utf8Bytes } from './alertmanager';

/** Intake bounds at their exact limits, how a refused alert's reason reads, and which body shape each door takes. */

const receivedAt = new Date('2026-11-26T12:00:00Z');
const limits = { receivedAt, maxFutureMs: 10 * 60_000 };
const good = { labels: { alertname: 'Good' } };
const webhookAlert = { status: 'firing', labels: { alertname: 'HighCPU' }, startsAt: '2026-11-26T08:00:00Z', endsAt: '0001-01-01T00:00:00Z' };
const webhook = { version: '4', groupKey: 'k', status: 'firing', receiver: 'sentryhub', alerts: [webhookAlert] };

const rejectedOf = (alert: unknown) => parseIntakeAlerts('alerts', [good, alert], limits).rejected;
const firstMessage = (result: { success: boolean; error?: { issues: { message: string }[] } }) => result.error?.issues[0]?.message;

describe('bounds at their limit', () => {
  it('takes exactly the maximum of labels, name length, value bytes and annotation bytes, refuses one more', () => {
    const labels = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`l${i}`, 'v']));
    expect(rejectedOf({ labels: labels(INTAKE_BOUNDS.maxLabels) })).toEqual([]);
    expect(rejectedOf({ labels: labels(INTAKE_BOUNDS.maxLabels + 1) })[0]).toMatchObject({
      refusal: 'label_count',
      reason: 'labels: at most 128 labels per alert (got 129)',
    });
    expect(rejectedOf({ labels: { ['n'.repeat(256)]: 'v' } })).toEqual([]);
    expect(rejectedOf({ labels: { a: 'v'.repeat(16 * 1024) } })).toEqual([]);
    expect(rejectedOf({ labels: { a: 'v'.repeat(16 * 1024 + 1) } })[0]).toMatchObject({
      refusal: 'label_value_size',
      reason: 'labels.a: label value of "a" is 16385 bytes, over 16384',
    });
    expect(rejectedOf({ labels: { a: 'b' }, annotations: { x: 'y'.repeat(65_535) } })).toEqual([]);
    expect(rejectedOf({ labels: { a: 'b' }, annotations: { x: 'y'.repeat(65_536) } })[0]?.reason).toBe(
      'annotations: annotations are 65537 bytes, over 65536 per alert',
    );
  });

  it('refuses empty labels with its own message', () => {
    expect(rejectedOf({ labels: {} })[0]?.reason).toBe('labels: labels must not be empty');
  });

  it('accepts an endsAt equal to startsAt, and an endsAt exactly at the future horizon', () => {
    expect(rejectedOf({ labels: { a: 'b' }, startsAt: '2026-11-26T11:00:00Z', endsAt: '2026-11-26T11:00:00Z' })).toEqual([]);
    expect(rejectedOf({ labels: { a: 'b' }, startsAt: '2026-11-26T11:00:00Z', endsAt: '2026-11-26T12:10:00Z' })).toEqual([]);
  });

  it('says how far in the future an end may be', () => {
    expect(rejectedOf({ labels: { a: 'b' }, startsAt: '2026-11-26T11:00:00Z', endsAt: '2026-11-26T12:10:00.001Z' })[0]).toMatchObject({
      refusal: 'ends_in_future',
      reason: 'endsAt: endsAt 2026-11-26T12:10:00.001Z is more than 10m after the receipt time (INTAKE_MAX_FUTURE)',
    });
    expect(rejectedOf({ labels: { a: 'b' }, startsAt: '2026-11-26T12:10:00.001Z' })[0]?.reason).toBe(
      'startsAt: startsAt 2026-11-26T12:10:00.001Z is more than 10m after the receipt time (INTAKE_MAX_FUTURE)',
    );
  });
});

describe('the reason of a refused alert', () => {
  it('spells out the first three issues joined by "; " and counts the rest', () => {
    const [refused] = rejectedOf({ labels: { 'a-1': 'x', 'b-2': 'x', 'c-3': 'x', 'd-4': 'x', 'e-5': 'x' } });
    expect(refused?.reason).toBe(
      'labels.a-1: label name "a-1" is not of the grammar [a-zA-Z_][a-zA-Z0-9_]*; labels.b-2: label name "b-2" is not of the grammar [a-zA-Z_][a-zA-Z0-9_]*; labels.c-3: label name "c-3" is not of the grammar [a-zA-Z_][a-zA-Z0-9_]* (and 2 more)',
    );
    expect(refused?.issues).toHaveLength(5);
  });

  it('reports every broken bound of an alert: one check failing does not stop the next', () => {
    const [refused] = rejectedOf({
      labels: { 'a-1': 'nul\u0000' },
      annotations: { summary: 'x'.repeat(65_536) },
      startsAt: '2026-11-26T11:00:00Z',
      endsAt: '2026-11-26T10:00:00Z',
      extra: { note: 'nul\u0000' },
    });
    expect(refused?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['1.labels.a-1', 'must not contain NUL (\\u0000)'],
      ['1.labels.a-1', 'label name "a-1" is not of the grammar [a-zA-Z_][a-zA-Z0-9_]*'],
      ['1.annotations', 'annotations are 65543 bytes, over 65536 per alert'],
      ['1.endsAt', 'endsAt 2026-11-26T10:00:00Z is before startsAt 2026-11-26T11:00:00Z'],
      ['1.extra.note', 'must not contain NUL (\\u0000)'],
    ]);
  });

  it('gives exactly three issues without a count', () => {
    const [refused] = rejectedOf({ labels: { 'a-1': 'x', 'b-2': 'x', 'c-3': 'x' } });
    expect(refused?.reason).not.toContain('more');
    expect(refused?.reason.split('; ')).toHaveLength(3);
  });

  it('writes an issue of the alert as a whole without a path', () => {
    const result = parseIntakeAlerts('alerts', [good, 'not an alert'], limits);
    expect(result.rejected[0]?.reason).toBe('Invalid input: expected object, received string');
  });
});

describe('body shapes', () => {
  it('takes a webhook on the webhook door and on the external queue, with issue paths under alerts', () => {
    for (const shape of ['webhook', 'any'] as const) {
      const result = parseIntakeAlerts(shape, { ...webhook, alerts: [webhookAlert, { ...webhookAlert, labels: {} }] }, limits);
      expect(result).toMatchObject({ success: true, data: { kind: 'webhook' } });
      expect(result.rejected[0]?.issues[0]?.path).toEqual(['alerts', 1, 'labels']);
    }
  });

  it('judges a body with version as a webhook on the external queue only', () => {
    const body = { version: '4', labels: { alertname: 'X' } };
    expect(parseIntakeAlerts('any', body, limits).success).toBe(false);
    expect(parseIntakeAlerts('alert-or-alerts', body, limits)).toMatchObject({ success: true, data: { kind: 'postable' } });
  });

  it('takes one postable alert on the API v1 door, its issue paths from the root; refuses it on the v2 door', () => {
    const one = parseIntakeAlerts('alert-or-alerts', { labels: { a: 'b' }, startsAt: 'never' }, limits);
    expect(one.success).toBe(false);
    expect(one.rejected[0]?.issues[0]?.path).toEqual(['startsAt']);
    const many = parseIntakeAlerts('alert-or-alerts', [good, { labels: { a: 'b' }, startsAt: 'never' }], limits);
    expect(many.rejected[0]?.issues[0]?.path).toEqual([1, 'startsAt']);
    expect(firstMessage(parseIntakeAlerts('alerts', good, limits))).toBe('expected an array of postable alerts, got object');
  });

  it('names what each door expected and what it got', () => {
    expect(firstMessage(parseIntakeAlerts('alerts', null, limits))).toBe('expected an array of postable alerts, got null');
    expect(firstMessage(parseIntakeAlerts('any', 'text', limits))).toBe(
      'expected an Alertmanager webhook payload (version "4"), one postable alert {labels, ...} or an array of them, got string',
    );
    expect(firstMessage(parseIntakeAlerts('alert-or-alerts', 42, limits))).toBe('expected one postable alert {labels, ...} or an array of them, got number');
  });

  it('refuses a webhook whose envelope holds unstorable text', () => {
    const result = parseIntakeAlerts('webhook', { ...webhook, receiver: 'a\u0000b' }, limits);
    expect(result.success).toBe(false);
    expect(firstMessage(result)).toBe('must not contain NUL (\\u0000)');
  });
});

describe('stored text', () => {
  it('a label set refuses NUL and lone surrogates by itself', () => {
    expect(LabelSet.safeParse({ a: 'x\u0000' }).error?.issues[0]?.message).toBe('must not contain NUL (\\u0000)');
    expect(LabelSet.safeParse({ a: 'x\uD800' }).error?.issues[0]?.message).toBe('must not contain a lone UTF-16 surrogate');
    expect(LabelSet.safeParse({ a: 'x\uD83D\uDE00' }).success).toBe(true);
  });

  it('jsonValueProblem allows exactly maxDepth levels and paths the first problem', () => {
    const nest = (depth: number): unknown => (depth === 0 ? 'leaf' : { k: nest(depth - 1) });
    expect(jsonValueProblem(nest(MAX_JSON_DEPTH))).toBeNull();
    expect(jsonValueProblem(nest(MAX_JSON_DEPTH + 1))?.message).toBe(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(jsonValueProblem({ a: [1, 'ok', { b: 'x\u0000' }] })).toEqual({ path: ['a', 2, 'b'], message: 'must not contain NUL (\\u0000)' });
    expect(jsonValueProblem([[[]], 'x\u0000'])).toEqual({ path: [1], message: 'must not contain NUL (\\u0000)' });
  });

  it('jsonValueProblem looks only at own keys', () => {
    const inherited = Object.create({ ['bad\u0000']: 'x' }) as object;
    expect(jsonValueProblem(inherited)).toBeNull();
  });

  it('counts U+0080 as two UTF-8 bytes and U+007F as one', () => {
    expect(utf8Bytes('\u007f')).toBe(1);
    expect(utf8Bytes('\u0080')).toBe(2);
    expect(utf8Bytes('\u0800')).toBe(3);
    expect(utf8Bytes('\uD83D\uDE00')).toBe(4);
  });

  it('DurationEnv trims the variable', () => {
    expect(DurationEnv('1m').parse(' 10m ')).toBe(600_000);
    expect(DurationEnv('1m').parse(undefined)).toBe(60_000);
    expect(DurationEnv('1m').safeParse('soon').error?.issues[0]?.message).toBe('"soon" is not a duration such as 30s, 10m, 1h or 1h30m');
  });
});
