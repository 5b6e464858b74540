import type { NormalizedAlert } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { applyFiring, applyManualResolve, applyResolved, type GroupState, type InstanceState } from './state-machine';

/*
 * Boundaries of the alert state machine that the transition-by-transition specs leave open:
 * manual resolve, which open episode is the latest, an episode starting exactly at `now`, lease
 * renewal and re-opening of expired episodes (dirty flags only for stored rows).
 */

const NOW = new Date('2026-11-26T12:00:00.000Z');
const at = (hhmm: string) => new Date(`2026-11-26T${hhmm}:00.000Z`);

let nextId = 500;
const episode = (startsAt: string, status: 'firing' | 'resolved' = 'firing', fields: Partial<InstanceState> = {}): InstanceState => ({
  id: nextId++,
  status,
  startsAt: at(startsAt),
  endsAt: status === 'resolved' ? at(startsAt) : null,
  annotations: {},
  generatorUrl: null,
  resolutionType: status === 'resolved' ? 'normal' : null,
  intakeSource: 'api',
  stored: true,
  dirty: false,
  ...fields,
});

const group = (...instances: InstanceState[]): GroupState => ({
  id: 9,
  status: instances.some((i) => i.status === 'firing') ? 'firing' : 'resolved',
  firingCount: instances.length,
  acknowledged: false,
  acknowledgedBy: null,
  acknowledgedAt: null,
  instances,
  dirty: false,
});

const alert = (status: 'firing' | 'resolved', startsAt: string | null, extra: Partial<NormalizedAlert> = {}): NormalizedAlert => ({
  fingerprint: 'd2aeefc389ca7746',
  status,
  labels: { alertname: 'Boundary' },
  annotations: {},
  startsAt: startsAt === null ? null : at(startsAt).toISOString(),
  endsAt: null,
  generatorURL: null,
  extra: {},
  ...extra,
});

describe('applyManualResolve', () => {
  it('closes every open episode at `at` as manual, marks only stored rows dirty, and resolves the group in each change', () => {
    const stored = episode('08:00');
    const fresh = episode('09:00', 'firing', { stored: false, id: null });
    const done = episode('07:00', 'resolved');
    const g = group(done, stored, fresh);
    const made = applyManualResolve(g, at('11:00'));
    expect(made.map((t) => t.instance)).toEqual([stored, fresh]);
    for (const t of made) {
      expect(t.change).toBe('resolved');
      expect(t.instanceAt).toEqual({ status: 'resolved', endsAt: at('11:00'), resolutionType: 'manual' });
      expect(t.groupAt.status).toBe('resolved');
    }
    expect(stored.dirty).toBe(true);
    expect(fresh.dirty).toBe(false);
    expect(done).toMatchObject({ status: 'resolved', resolutionType: 'normal', dirty: false });
    expect(g).toMatchObject({ status: 'resolved', dirty: true });
  });

  it('changes nothing when nothing is open', () => {
    const done = episode('07:00', 'resolved');
    const g = group(done);
    expect(applyManualResolve(g, at('11:00'))).toEqual([]);
    expect(g.dirty).toBe(false);
    expect(done.resolutionType).toBe('normal');
  });
});

describe('the latest episode', () => {
  it('a resolved without startsAt closes the open episode that started last, whatever the order of the rows', () => {
    const newer = episode('10:00');
    const older = episode('08:00');
    const g = group(newer, older);
    const made = applyResolved(g, alert('resolved', null), NOW, 'api');
    expect(made?.instance).toBe(newer);
    expect(newer.resolutionType).toBe('inferred');
    expect(older.status).toBe('firing');
  });

  it('an episode that started exactly at `now` has started: an older firing is stale', () => {
    const current = episode('12:00');
    const g = group(current);
    expect(applyFiring(g, alert('firing', '11:00'), NOW, 'api')).toBeNull();
    expect(g.instances).toEqual([current]);
    expect(current.status).toBe('firing');
  });

  it('an open episode that started exactly at `now` is not closed by a resolved of an older episode', () => {
    const current = episode('12:00');
    const g = group(current);
    expect(applyResolved(g, alert('resolved', '11:00'), NOW, 'api')).toBeNull();
    expect(current.status).toBe('firing');
    expect(g.instances.map((i) => i.status)).toEqual(['firing', 'resolved']);
  });

  it('a resolved of an unknown episode with nothing open is recorded and marks the group to be written', () => {
    const g = group(episode('08:00', 'resolved'));
    const made = applyResolved(g, alert('resolved', '09:00'), NOW, 'api');
    expect(made?.change).toBe('resolved');
    expect(g.instances).toHaveLength(2);
    expect(g).toMatchObject({ status: 'resolved', dirty: true });
  });
});

describe('leases', () => {
  const lease = (hhmm: string) => ({ leaseEndsAt: at(hhmm).toISOString() });

  it('a duplicate firing renews the lease of an unstored episode without marking it dirty', () => {
    const open = episode('08:00', 'firing', { stored: false, id: null, leaseEndsAt: at('12:10') });
    const g = group(open);
    expect(applyFiring(g, alert('firing', '08:00', lease('12:30')), NOW, 'api')).toBeNull();
    expect(open.leaseEndsAt).toEqual(at('12:30'));
    expect(open.dirty).toBe(false);
  });

  it('a firing re-sent for a resolved (not expired) episode neither re-opens it nor touches its lease', () => {
    const done = episode('08:00', 'resolved', { leaseEndsAt: at('10:00') });
    const g = group(done);
    expect(applyFiring(g, alert('firing', '08:00', lease('13:00')), NOW, 'api')).toBeNull();
    expect(done).toMatchObject({ status: 'resolved', resolutionType: 'normal', leaseEndsAt: at('10:00'), dirty: false });
  });

  it('re-opens an expired episode only while the new lease runs after `now`', () => {
    const expired = () => episode('08:00', 'resolved', { resolutionType: 'expired', leaseEndsAt: at('11:00') });
    const ending = expired();
    expect(applyFiring(group(ending), alert('firing', '08:00', lease('12:00')), NOW, 'api')).toBeNull();
    expect(ending.status).toBe('resolved');
    const running = expired();
    const made = applyFiring(group(running), alert('firing', '08:00', lease('12:01')), NOW, 'api');
    expect(made?.change).toBe('refired');
    expect(running).toMatchObject({ status: 'firing', endsAt: null, resolutionType: null, leaseEndsAt: at('12:01'), dirty: true });
  });

  it('does not re-open an expired episode that is not the latest, or while another is open', () => {
    const old = episode('08:00', 'resolved', { resolutionType: 'expired' });
    expect(applyFiring(group(old, episode('09:00', 'resolved')), alert('firing', '08:00', lease('13:00')), NOW, 'api')).toBeNull();
    expect(old.status).toBe('resolved');
    const last = episode('08:00', 'resolved', { resolutionType: 'expired' });
    const g = group(episode('07:00'), last);
    expect(applyFiring(g, alert('firing', '08:00', lease('13:00')), NOW, 'api')).toBeNull();
    expect(last.status).toBe('resolved');
  });

  it('re-opens an unstored expired episode without marking it dirty', () => {
    const unstored = episode('08:00', 'resolved', { resolutionType: 'expired', stored: false, id: null });
    expect(applyFiring(group(unstored), alert('firing', '08:00', lease('13:00')), NOW, 'api')?.change).toBe('refired');
    expect(unstored.dirty).toBe(false);
  });
});
