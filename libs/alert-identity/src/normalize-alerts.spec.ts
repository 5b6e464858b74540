import { AlertmanagerWebhook } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { fingerprint } from './fingerprint';
import { normalizeIntakeBody, normalizePostableAlert } from './normalize-alerts';

const FIVE_MINUTES = 5 * 60_000;

const now = new Date('2026-11-26T12:00:00Z');

describe('normalizeIntakeBody', () => {
  it('normalises a webhook: zero endsAt is "not ended", the payload fields become meta', () => {
    const payload = AlertmanagerWebhook.parse({
      version: '4',
      groupKey: 'k',
      status: 'firing',
      receiver: 'r',
      extraField: 1,
      alerts: [{ status: 'firing', labels: { alertname: 'X' }, startsAt: '2026-11-26T08:00:00Z', endsAt: '0001-01-01T00:00:00Z', routeLabels: { x: 'y' } }],
    });
    const { alerts, meta } = normalizeIntakeBody(payload, now);
    expect(alerts).toEqual([
      {
        fingerprint: 'd2aeefc389ca7746',
        status: 'firing',
        labels: { alertname: 'X' },
        annotations: {},
        startsAt: '2026-11-26T08:00:00Z',
        endsAt: null,
        leaseEndsAt: null,
        generatorURL: null,
        extra: { routeLabels: { x: 'y' } },
      },
    ]);
    expect(meta).toMatchObject({ receiver: 'r', groupKey: 'k', extraField: 1 });
    expect(meta).not.toHaveProperty('alerts');
  });

  it("keys an alert by the fingerprint of its labels; a sender's fingerprint is kept as senderFingerprint and decides nothing", () => {
    const payload = AlertmanagerWebhook.parse({
      version: '4',
      groupKey: 'k',
      status: 'firing',
      receiver: 'r',
      alerts: [{ status: 'firing', labels: { alertname: 'B' }, startsAt: '2026-11-26T08:00:00Z', fingerprint: fingerprint({ alertname: 'A' }) }],
    });
    expect(normalizeIntakeBody(payload, now).alerts[0]).toMatchObject({
      fingerprint: fingerprint({ alertname: 'B' }),
      senderFingerprint: fingerprint({ alertname: 'A' }),
    });
  });

  it("derives a postable alert's status from endsAt like Alertmanager", () => {
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {} }, now)).toMatchObject({ status: 'firing', startsAt: null, endsAt: null });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T13:00:00Z' }, now)).toMatchObject({
      status: 'firing',
      endsAt: null,
    });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T11:00:00Z' }, now)).toMatchObject({
      status: 'resolved',
      endsAt: '2026-11-26T11:00:00Z',
    });
  });

  it('leases a firing postable alert: its future endsAt, else the receipt + RESOLVE_TIMEOUT when the door gives one, else none', () => {
    const v2 = { resolveTimeoutMs: FIVE_MINUTES };
    // Prometheus's lease (nanoseconds, an offset): kept as the instant it names, in milliseconds.
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T13:00:04.123456789+01:00' }, now, v2)).toMatchObject({
      status: 'firing',
      endsAt: null,
      leaseEndsAt: '2026-11-26T12:00:04.123Z',
    });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {} }, now, v2)).toMatchObject({
      status: 'firing',
      leaseEndsAt: '2026-11-26T12:05:00.000Z',
    });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '0001-01-01T00:00:00Z' }, now, v2)).toMatchObject({
      status: 'firing',
      leaseEndsAt: '2026-11-26T12:05:00.000Z',
    });
    // /api/v1/alerts and the external queue: only a sender's endsAt.
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {} }, now)).toMatchObject({ status: 'firing', leaseEndsAt: null });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T12:00:30Z' }, now)).toMatchObject({
      status: 'firing',
      leaseEndsAt: '2026-11-26T12:00:30.000Z',
    });
    // A resolved alert has no lease.
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T11:00:00Z' }, now, v2)).toMatchObject({
      status: 'resolved',
      leaseEndsAt: null,
    });
    expect(normalizeIntakeBody([{ labels: { a: 'b' }, annotations: {} }], now, v2).alerts[0]?.leaseEndsAt).toBe('2026-11-26T12:05:00.000Z');
  });

  it("reads Go's zero time in amtool's spelling (with milliseconds) as no time: firing, leased, no start", () => {
    const amtool = { labels: { a: 'b' }, annotations: {}, startsAt: '0001-01-01T00:00:00.000Z', endsAt: '0001-01-01T00:00:00.000Z' };
    expect(normalizePostableAlert(amtool, now, { resolveTimeoutMs: FIVE_MINUTES })).toMatchObject({
      status: 'firing',
      startsAt: null,
      endsAt: null,
      leaseEndsAt: '2026-11-26T12:05:00.000Z',
    });
    expect(normalizePostableAlert({ ...amtool, endsAt: '0001-01-01T01:00:00+01:00' }, now)).toMatchObject({
      status: 'firing',
      startsAt: null,
      leaseEndsAt: null,
    });
  });

  it('never leases a webhook alert: Alertmanager sends its resolution itself', () => {
    const payload = AlertmanagerWebhook.parse({
      version: '4',
      groupKey: 'k',
      status: 'firing',
      receiver: 'r',
      alerts: [{ status: 'firing', labels: { alertname: 'X' }, startsAt: '2026-11-26T08:00:00Z', endsAt: '2026-11-26T12:04:00Z' }],
    });
    expect(normalizeIntakeBody(payload, now, { resolveTimeoutMs: FIVE_MINUTES }).alerts[0]).toMatchObject({
      status: 'firing',
      endsAt: null,
      leaseEndsAt: null,
    });
  });

  it('accepts one postable alert or an array', () => {
    expect(normalizeIntakeBody({ labels: { a: 'b' }, annotations: {} }, now).alerts).toHaveLength(1);
    expect(
      normalizeIntakeBody(
        [
          { labels: { a: 'b' }, annotations: {} },
          { labels: { a: 'c' }, annotations: {} },
        ],
        now,
      ).alerts,
    ).toHaveLength(2);
  });
});
