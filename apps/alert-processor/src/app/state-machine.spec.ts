import type { NormalizedAlert } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { applyAlert, type GroupState, type InstanceState } from './state-machine';

const stored = (startsAt: string, status: 'firing' | 'resolved' = 'firing'): InstanceState => ({
  id: Math.floor(Math.random() * 1e6),
  status,
  startsAt: new Date(startsAt),
  endsAt: null,
  annotations: {},
  generatorUrl: null,
  resolutionType: null,
  intakeSource: 'webhook',
  stored: true,
  dirty: false,
});
const groupWith = (...instances: InstanceState[]): GroupState => ({ id: 1, status: 'firing', firingCount: 1, acknowledged: false, acknowledgedBy: null, acknowledgedAt: null, instances, dirty: false });
const resolved = (startsAt: string | null, endsAt: string): NormalizedAlert => ({ fingerprint: 'd2aeefc389ca7746', status: 'resolved', labels: { alertname: 'X' }, annotations: {}, startsAt, endsAt, generatorURL: null, extra: {} });
const now = new Date('2026-11-26T12:00:00Z');

// The database keeps one open episode per group, so "two open" can only be pictured in memory:
// the rule still holds there, for data written before that guarantee or by hand.
describe('state machine rules that the database makes unreachable', () => {
  it('resolved with no startsAt match and two open: only the latest closes "inferred"', () => {
    const older = stored('2026-11-26T08:00:00Z');
    const latest = stored('2026-11-26T09:00:00Z');
    const group = groupWith(older, latest);
    const made = applyAlert(group, resolved('2026-11-26T10:00:00Z', '2026-11-26T10:30:00Z'), now, 'api');
    expect(made?.instance).toBe(latest);
    expect(latest).toMatchObject({ status: 'resolved', resolutionType: 'inferred', dirty: true });
    expect(older).toMatchObject({ status: 'firing', dirty: false });
    expect(group.status).toBe('firing');
  });

  it('a resolved without startsAt and with nothing open changes nothing', () => {
    const group = groupWith(stored('2026-11-26T08:00:00Z', 'resolved'));
    expect(applyAlert(group, resolved(null, '2026-11-26T10:30:00Z'), now, 'api')).toBeNull();
    expect(group.instances).toHaveLength(1);
  });
});
