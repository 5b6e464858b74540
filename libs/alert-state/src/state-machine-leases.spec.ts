import type { NormalizedAlert } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { applyAlert, applyExpiry, type GroupState, type InstanceState } from './state-machine';

const T0 = '2026-11-26T10:00:00.000Z';
const now = new Date('2026-11-26T12:00:00.000Z');
const at = (offsetMs: number) => new Date(now.getTime() + offsetMs);

const stored = (
  startsAt: string,
  leaseEndsAt: Date | null,
  status: 'firing' | 'resolved' = 'firing',
  resolutionType: InstanceState['resolutionType'] = null,
): InstanceState => ({
  id: 7,
  status,
  startsAt: new Date(startsAt),
  endsAt: status === 'resolved' ? leaseEndsAt : null,
  annotations: {},
  generatorUrl: null,
  resolutionType,
  intakeSource: 'api',
  leaseEndsAt,
  stored: true,
  dirty: false,
});
const groupWith = (...instances: InstanceState[]): GroupState => ({
  id: 1,
  status: instances.some((i) => i.status === 'firing') ? 'firing' : 'resolved',
  firingCount: 1,
  acknowledged: true,
  acknowledgedBy: 'ops',
  acknowledgedAt: now,
  instances,
  dirty: false,
});
const firing = (startsAt: string | null, leaseEndsAt: Date | null): NormalizedAlert => ({
  fingerprint: 'd2aeefc389ca7746',
  status: 'firing',
  labels: { alertname: 'X' },
  annotations: {},
  startsAt,
  endsAt: null,
  leaseEndsAt: leaseEndsAt?.toISOString() ?? null,
  generatorURL: null,
  extra: {},
});

describe('leases in the state machine', () => {
  it('a new episode takes the lease of the firing that opens it', () => {
    const group = groupWith();
    const made = applyAlert(group, firing(T0, at(4_000)), now, 'api', now);
    expect(made?.change).toBe('created');
    expect(made?.instance.leaseEndsAt).toEqual(at(4_000));
  });

  it("a re-send renews the open episode's lease to the later of both, with no change", () => {
    const open = stored(T0, at(4_000));
    const group = groupWith(open);
    expect(applyAlert(group, firing(T0, at(9_000)), now, 'api', now)).toBeNull();
    expect(open).toMatchObject({ status: 'firing', leaseEndsAt: at(9_000), dirty: true });
    // An older lease (a re-send that waited in a queue) never shortens it.
    expect(applyAlert(group, firing(T0, at(2_000)), now, 'api', now)).toBeNull();
    expect(open.leaseEndsAt).toEqual(at(9_000));
    // A firing without startsAt means the open episode: it renews it too.
    expect(applyAlert(group, firing(null, at(12_000)), now, 'api', now)).toBeNull();
    expect(open.leaseEndsAt).toEqual(at(12_000));
    expect(group.acknowledged).toBe(true);
  });

  it('a re-send without a lease (a webhook) removes it; a same lease marks nothing to write', () => {
    const same = stored(T0, at(4_000));
    applyAlert(groupWith(same), firing(T0, at(4_000)), now, 'api', now);
    expect(same.dirty).toBe(false);
    const cleared = stored(T0, at(4_000));
    applyAlert(groupWith(cleared), firing(T0, null), now, 'webhook', now);
    expect(cleared).toMatchObject({ leaseEndsAt: null, dirty: true });
    // No lease stays no lease: a door with leases does not add one to such an episode.
    const none = stored(T0, null);
    applyAlert(groupWith(none), firing(T0, at(4_000)), now, 'api', now);
    expect(none).toMatchObject({ leaseEndsAt: null, dirty: false });
  });

  it('expiry closes open episodes whose lease has passed: endsAt = the lease end, type expired, one resolved change', () => {
    const due = stored(T0, at(-1_500));
    const group = groupWith(due);
    const made = applyExpiry(group, now);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatchObject({
      change: 'resolved',
      instanceAt: { status: 'resolved', endsAt: at(-1_500), resolutionType: 'expired' },
      groupAt: { status: 'resolved' },
    });
    expect(due).toMatchObject({ status: 'resolved', endsAt: at(-1_500), resolutionType: 'expired', dirty: true });
    expect(group.status).toBe('resolved');
    // Twice: nothing more.
    expect(applyExpiry(group, now)).toEqual([]);
  });

  it('expiry leaves a running lease, an episode without lease and a lease ending exactly now+1 ms', () => {
    const running = groupWith(stored(T0, at(1)));
    const leaseless = groupWith(stored(T0, null));
    expect(applyExpiry(running, now)).toEqual([]);
    expect(applyExpiry(leaseless, now)).toEqual([]);
    expect(running.instances[0]).toMatchObject({ status: 'firing', dirty: false });
    // At its very end it is due.
    expect(applyExpiry(groupWith(stored(T0, now)), now)).toHaveLength(1);
  });

  it('an episode whose lease ends before its start ends at its start', () => {
    const odd = stored('2026-11-26T11:59:59.000Z', at(-5_000));
    applyExpiry(groupWith(odd), now);
    expect(odd.endsAt).toEqual(new Date('2026-11-26T11:59:59.000Z'));
  });

  it('a re-send of an expired episode with a running lease re-opens it (refired); one without, or of another resolution, does not', () => {
    const expired = stored(T0, at(-2_000), 'resolved', 'expired');
    const group = groupWith(expired);
    expect(applyAlert(group, firing(T0, at(-100)), now, 'api', now)).toBeNull();
    expect(expired.status).toBe('resolved');
    const made = applyAlert(group, firing(T0, at(4_000)), now, 'api', now);
    expect(made).toMatchObject({
      change: 'refired',
      instanceAt: { status: 'firing', endsAt: null, resolutionType: null },
      groupAt: { status: 'firing', firingCount: 2 },
    });
    expect(expired).toMatchObject({ status: 'firing', endsAt: null, resolutionType: null, leaseEndsAt: at(4_000), dirty: true });

    const normal = stored(T0, at(-2_000), 'resolved', 'normal');
    expect(applyAlert(groupWith(normal), firing(T0, at(4_000)), now, 'api', now)).toBeNull();
    expect(normal.status).toBe('resolved');
    // Not when a later episode exists: the re-send is old news.
    const older = stored(T0, at(-2_000), 'resolved', 'expired');
    const later = { ...stored('2026-11-26T11:00:00.000Z', at(4_000)), id: 8 };
    expect(applyAlert(groupWith(older, later), firing(T0, at(4_000)), now, 'api', now)).toBeNull();
    expect(older.status).toBe('resolved');
  });
});
