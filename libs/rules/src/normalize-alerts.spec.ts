import { AlertmanagerWebhook } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { normalizeIntakeBody, normalizePostableAlert } from './normalize-alerts';

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
      { fingerprint: 'd2aeefc389ca7746', status: 'firing', labels: { alertname: 'X' }, annotations: {}, startsAt: '2026-11-26T08:00:00Z', endsAt: null, generatorURL: null, extra: { routeLabels: { x: 'y' } } },
    ]);
    expect(meta).toMatchObject({ receiver: 'r', groupKey: 'k', extraField: 1 });
    expect(meta).not.toHaveProperty('alerts');
  });

  it('derives a postable alert\'s status from endsAt like Alertmanager', () => {
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {} }, now)).toMatchObject({ status: 'firing', startsAt: null, endsAt: null });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T13:00:00Z' }, now)).toMatchObject({ status: 'firing', endsAt: null });
    expect(normalizePostableAlert({ labels: { a: 'b' }, annotations: {}, endsAt: '2026-11-26T11:00:00Z' }, now)).toMatchObject({ status: 'resolved', endsAt: '2026-11-26T11:00:00Z' });
  });

  it('accepts one postable alert or an array', () => {
    expect(normalizeIntakeBody({ labels: { a: 'b' }, annotations: {} }, now).alerts).toHaveLength(1);
    expect(normalizeIntakeBody([{ labels: { a: 'b' }, annotations: {} }, { labels: { a: 'c' }, annotations: {} }], now).alerts).toHaveLength(2);
  });
});
