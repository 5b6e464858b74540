import { describe, expect, it } from 'vitest';
import { fingerprint } from './fingerprint';
import { normalizeIntakeAlerts, normalizeIntakeBody, normalizePostableAlert, normalizeWebhookAlert } from './normalize-alerts';

/** The fingerprint of non-ASCII labels, and normalisation of each intake shape. */

describe('fingerprint', () => {
  /** FNV-1a 64 over the UTF-8 bytes of sorted names and values, each followed by 0xFF (Alertmanager's model.LabelSet.Fingerprint). */
  const reference = (labels: Record<string, string>) => {
    let hash = 0xcbf29ce484222325n;
    for (const name of Object.keys(labels).sort()) {
      for (const part of [name, labels[name] ?? '']) {
        for (const byte of [...Buffer.from(part, 'utf8'), 0xff]) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
      }
    }
    return hash.toString(16).padStart(16, '0');
  };

  it('hashes U+0080 and other non-ASCII text as its UTF-8 bytes', () => {
    for (const labels of [
      { a: '\u0080' } as Record<string, string>,
      { a: 'x\u007f' },
      { name: 'caf\u00e9 \uD83D\uDE00' },
      { alertname: 'HighCPU', job: 'node' },
    ]) {
      expect(fingerprint(labels)).toBe(reference(labels));
    }
  });
});

describe('normalisation', () => {
  const now = new Date('2026-11-26T12:00:00.000Z');

  it('keeps a sender fingerprint only for reference and a resolved webhook end', () => {
    const base = { status: 'resolved' as const, labels: { alertname: 'X' }, annotations: {}, startsAt: '2026-11-26T10:00:00Z', endsAt: '2026-11-26T11:00:00Z' };
    expect(normalizeWebhookAlert(base)).not.toHaveProperty('senderFingerprint');
    expect(normalizeWebhookAlert({ ...base, fingerprint: '0123456789abcdef' })).toMatchObject({
      senderFingerprint: '0123456789abcdef',
      fingerprint: fingerprint({ alertname: 'X' }),
      endsAt: '2026-11-26T11:00:00Z',
    });
  });

  it('a postable alert whose endsAt is exactly now is resolved', () => {
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: now.toISOString() }, now)).toMatchObject({
      status: 'resolved',
      endsAt: now.toISOString(),
      leaseEndsAt: null,
    });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T12:00:00.001Z' }, now)).toMatchObject({
      status: 'firing',
      leaseEndsAt: '2026-11-26T12:00:00.001Z',
    });
  });

  it('keeps the unknown fields of a postable alert as extra, and only those', () => {
    const alert = {
      labels: { a: 'b' },
      annotations: { s: 't' },
      startsAt: '2026-11-26T10:00:00Z',
      endsAt: '2026-11-26T11:00:00Z',
      generatorURL: 'http://g',
      team: 'ops',
    };
    expect(normalizePostableAlert(alert, now).extra).toEqual({ team: 'ops' });
  });

  it('never lets an unknown __proto__ field set the prototype of extra', () => {
    const alert = JSON.parse('{"labels":{"a":"b"},"__proto__":{"polluted":true},"team":"ops"}') as Parameters<typeof normalizePostableAlert>[0];
    const extra = normalizePostableAlert(alert, now).extra;
    expect(extra).toEqual({ team: 'ops' });
    expect(Object.getPrototypeOf(extra)).toBe(Object.prototype);
    expect((extra as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('keeps the unknown fields of a webhook alert as extra, and only those', () => {
    const alert = {
      status: 'firing' as const,
      labels: { a: 'b' },
      annotations: {},
      startsAt: '2026-11-26T10:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://g',
      fingerprint: '0123456789abcdef',
      routeLabels: 'r',
    };
    expect(normalizeWebhookAlert(alert).extra).toEqual({ routeLabels: 'r' });
  });

  it('reads a body with version and alerts as a webhook, any other object as one postable alert', () => {
    const webhookAlert = { status: 'firing' as const, labels: { a: 'b' }, annotations: {}, startsAt: '2026-11-26T10:00:00Z' };
    const payload = {
      version: '4' as const,
      groupKey: 'k',
      truncatedAlerts: 0,
      status: 'firing' as const,
      receiver: 'r',
      groupLabels: {},
      commonLabels: {},
      commonAnnotations: {},
      externalURL: '',
      alerts: [webhookAlert],
    };
    expect(normalizeIntakeBody(payload, now)).toMatchObject({ alerts: [{ status: 'firing', leaseEndsAt: null }], meta: { receiver: 'r', groupKey: 'k' } });
    expect(normalizeIntakeBody(payload, now).meta).not.toHaveProperty('alerts');
    const postable = { labels: { a: 'b' }, annotations: {}, version: 'x' };
    expect(normalizeIntakeBody(postable as never, now)).toMatchObject({ alerts: [{ extra: { version: 'x' } }], meta: {} });
    const withAlerts = { labels: { a: 'b' }, annotations: {}, alerts: 'x' };
    expect(normalizeIntakeBody(withAlerts as never, now)).toMatchObject({ alerts: [{ extra: { alerts: 'x' } }], meta: {} });
  });

  it('gives a parsed webhook its payload fields as meta', () => {
    const webhookAlert = { status: 'firing' as const, labels: { a: 'b' }, annotations: {}, startsAt: '2026-11-26T10:00:00Z' };
    const payload = {
      version: '4' as const,
      groupKey: 'k',
      truncatedAlerts: 0,
      status: 'firing' as const,
      receiver: 'r',
      groupLabels: {},
      commonLabels: {},
      commonAnnotations: {},
      externalURL: 'http://am',
    };
    expect(normalizeIntakeAlerts({ kind: 'webhook', payload, alerts: [webhookAlert] }, now)).toMatchObject({
      meta: { receiver: 'r', externalURL: 'http://am' },
      alerts: [{ labels: { a: 'b' } }],
    });
  });
});
