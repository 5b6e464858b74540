import type { NormalizedAlert } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { applyAlert, applyFiring, applyResolved, type GroupState, type InstanceState } from './state-machine';

/*
 * The transitions of the alert state machine one by one, with every field a transition
 * writes (status, endsAt, resolution type, dirty flags, firing count, acknowledgement), so
 * that a changed comparison or a dropped assignment fails a test (mutation testing,
 * docs/testing.md).
 */

const NOW = new Date('2026-11-26T12:00:00.000Z');
const at = (hhmm: string) => new Date(`2026-11-26T${hhmm}:00.000Z`);

let nextId = 100;
const episode = (startsAt: string, status: 'firing' | 'resolved' = 'firing', fields: Partial<InstanceState> = {}): InstanceState => ({
  id: nextId++,
  status,
  startsAt: at(startsAt),
  endsAt: status === 'resolved' ? at(startsAt) : null,
  annotations: {},
  generatorUrl: null,
  resolutionType: status === 'resolved' ? 'normal' : null,
  intakeSource: 'webhook',
  stored: true,
  dirty: false,
  ...fields,
});

const group = (...instances: InstanceState[]): GroupState => ({
  id: 7,
  status: instances.some((i) => i.status === 'firing') ? 'firing' : 'resolved',
  firingCount: instances.length,
  acknowledged: true,
  acknowledgedBy: 'ops@example.com',
  acknowledgedAt: at('07:00'),
  instances,
  dirty: false,
});

const alert = (
  status: 'firing' | 'resolved',
  startsAt: string | null,
  endsAt: string | null = null,
  extra: Partial<NormalizedAlert> = {},
): NormalizedAlert => ({
  fingerprint: 'd2aeefc389ca7746',
  status,
  labels: { alertname: 'Edge' },
  annotations: { summary: `${status} at ${startsAt}` },
  startsAt: startsAt === null ? null : at(startsAt).toISOString(),
  endsAt: endsAt === null ? null : at(endsAt).toISOString(),
  generatorURL: 'http://prometheus.example/graph',
  extra: {},
  ...extra,
});

describe('firing', () => {
  it('opens the first episode of a new group as `created`, with what the alert carried, and counts one firing', () => {
    const g: GroupState = {
      id: 1,
      status: 'resolved',
      firingCount: 0,
      acknowledged: false,
      acknowledgedBy: null,
      acknowledgedAt: null,
      instances: [],
      dirty: false,
    };
    const made = applyFiring(g, alert('firing', '09:00'), NOW, 'api');
    expect(made?.change).toBe('created');
    expect(made?.instance).toEqual({
      id: null,
      status: 'firing',
      startsAt: at('09:00'),
      endsAt: null,
      annotations: { summary: 'firing at 09:00' },
      generatorUrl: 'http://prometheus.example/graph',
      resolutionType: null,
      intakeSource: 'api',
      leaseEndsAt: null,
      stored: false,
      dirty: false,
    });
    expect(made?.instanceAt).toEqual({ status: 'firing', endsAt: null, resolutionType: null });
    expect(made?.groupAt).toEqual({ status: 'firing', firingCount: 1, acknowledged: false });
    expect(g).toMatchObject({ status: 'firing', firingCount: 1, dirty: true });
  });

  it('a later firing closes the open episode `inferred` at its start, opens a new one `refired`, and clears the acknowledgement', () => {
    const open = episode('08:00');
    const g = group(open);
    const made = applyFiring(g, alert('firing', '10:00'), NOW, 'webhook');
    expect(made?.change).toBe('refired');
    expect(open).toMatchObject({ status: 'resolved', endsAt: at('10:00'), resolutionType: 'inferred', dirty: true });
    expect(made?.instance).toMatchObject({ status: 'firing', startsAt: at('10:00'), stored: false });
    expect(g.instances).toHaveLength(2);
    // Still firing: the count does not move (it counts resolved -> firing changes of the group).
    expect(g).toMatchObject({ status: 'firing', firingCount: 1, acknowledged: false, acknowledgedBy: null, acknowledgedAt: null, dirty: true });
    expect(made?.groupAt).toEqual({ status: 'firing', firingCount: 1, acknowledged: false });
  });

  it('a firing after everything resolved counts one more firing', () => {
    const g = group(episode('08:00', 'resolved'));
    expect(g.firingCount).toBe(1);
    const made = applyFiring(g, alert('firing', '10:00'), NOW, 'webhook');
    expect(made?.change).toBe('refired');
    expect(g).toMatchObject({ status: 'firing', firingCount: 2 });
  });

  it('a duplicate of the open episode, an old firing of a resolved one and a stale one change nothing', () => {
    const resolvedOne = episode('08:00', 'resolved');
    const open = episode('09:00');
    const g = group(resolvedOne, open);
    expect(applyFiring(g, alert('firing', '09:00'), NOW, 'webhook')).toBeNull();
    expect(applyFiring(g, alert('firing', '08:00'), NOW, 'webhook')).toBeNull();
    expect(applyFiring(g, alert('firing', '08:30'), NOW, 'webhook')).toBeNull();
    expect(g.instances).toEqual([resolvedOne, open]);
    expect(open).toMatchObject({ status: 'firing', dirty: false });
    expect(resolvedOne).toMatchObject({ status: 'resolved', dirty: false });
    expect(g.dirty).toBe(false);
  });

  it('a firing that starts exactly when the latest episode started is that episode, not a stale one', () => {
    const g = group(episode('09:00', 'resolved'));
    expect(applyFiring(g, alert('firing', '09:00'), NOW, 'webhook')).toBeNull();
    expect(g.instances).toHaveLength(1);
  });

  it('without startsAt: the open episode, else a new one starting at the receipt', () => {
    const open = episode('09:00');
    const g = group(open);
    expect(applyFiring(g, alert('firing', null), NOW, 'api')).toBeNull();
    expect(g.instances).toEqual([open]);

    const closed = group(episode('09:00', 'resolved'));
    const made = applyFiring(closed, alert('firing', null), at('11:00'), 'api', NOW);
    expect(made?.change).toBe('refired');
    expect(made?.instance.startsAt).toEqual(at('11:00'));
  });

  it('an unstored episode closed by a later firing is not marked dirty (it is inserted as it ends up)', () => {
    const g = group();
    applyFiring(g, alert('firing', '08:00'), NOW, 'api');
    const [first] = g.instances;
    applyFiring(g, alert('firing', '09:00'), NOW, 'api');
    expect(first).toMatchObject({ status: 'resolved', resolutionType: 'inferred', stored: false, dirty: false });
  });
});

describe('resolved', () => {
  it('closes the open episode it names `normal` at its endsAt', () => {
    const open = episode('09:00');
    const g = group(open);
    const made = applyResolved(g, alert('resolved', '09:00', '10:00'), NOW, 'webhook');
    expect(made?.change).toBe('resolved');
    expect(made?.instance).toBe(open);
    expect(open).toMatchObject({ status: 'resolved', endsAt: at('10:00'), resolutionType: 'normal', dirty: true });
    expect(made?.instanceAt).toEqual({ status: 'resolved', endsAt: at('10:00'), resolutionType: 'normal' });
    expect(g).toMatchObject({ status: 'resolved', firingCount: 1, dirty: true });
    expect(made?.groupAt).toMatchObject({ status: 'resolved', firingCount: 1 });
  });

  it('keeps the end between the start and now: never before the start, never in the future', () => {
    const early = episode('09:00');
    applyResolved(group(early), alert('resolved', '09:00', '08:00'), NOW, 'webhook');
    expect(early.endsAt).toEqual(at('09:00'));

    const late = episode('09:00');
    applyResolved(group(late), alert('resolved', '09:00', '23:00'), NOW, 'webhook');
    expect(late.endsAt).toEqual(NOW);
  });

  it('without endsAt ends at the receipt', () => {
    const open = episode('09:00');
    applyResolved(group(open), alert('resolved', '09:00', null), at('11:30'), 'webhook', NOW);
    expect(open.endsAt).toEqual(at('11:30'));
  });

  it('a resolved already known changes nothing', () => {
    const done = episode('09:00', 'resolved');
    const g = group(done);
    expect(applyResolved(g, alert('resolved', '09:00', '10:00'), NOW, 'webhook')).toBeNull();
    expect(done).toMatchObject({ endsAt: at('09:00'), dirty: false });
    expect(g.dirty).toBe(false);
  });

  it('for a later episode than the open one: closes the open one `inferred` and records the named one resolved', () => {
    const open = episode('08:00');
    const g = group(open);
    const made = applyResolved(g, alert('resolved', '09:00', '10:00'), NOW, 'api');
    expect(made?.instance).toBe(open);
    expect(open).toMatchObject({ status: 'resolved', resolutionType: 'inferred', endsAt: at('10:00') });
    expect(g.instances).toHaveLength(2);
    expect(g.instances[1]).toMatchObject({
      status: 'resolved',
      startsAt: at('09:00'),
      endsAt: at('10:00'),
      resolutionType: 'normal',
      stored: false,
      intakeSource: 'api',
    });
    expect(g.status).toBe('resolved');
  });

  it('without startsAt closes the latest open episode `inferred` and records nothing else', () => {
    const open = episode('08:00');
    const g = group(open);
    const made = applyResolved(g, alert('resolved', null, '10:00'), NOW, 'api');
    expect(made?.instance).toBe(open);
    expect(open.resolutionType).toBe('inferred');
    expect(g.instances).toHaveLength(1);
  });

  it('for an episode older than the open one: recorded as history, the open one stays, no change', () => {
    const open = episode('10:00');
    const g = group(open);
    expect(applyResolved(g, alert('resolved', '08:00', '09:00'), NOW, 'api')).toBeNull();
    expect(open).toMatchObject({ status: 'firing', dirty: false });
    expect(g.instances).toHaveLength(2);
    expect(g.instances[1]).toMatchObject({ status: 'resolved', startsAt: at('08:00'), endsAt: at('09:00'), resolutionType: 'normal' });
    expect(g.status).toBe('firing');
  });

  it('with nothing open: records the resolved episode as a change, so that its late firing is not opened', () => {
    const g = group(episode('07:00', 'resolved'));
    const made = applyResolved(g, alert('resolved', '09:00', '10:00'), NOW, 'api');
    expect(made?.change).toBe('resolved');
    expect(made?.instance).toMatchObject({ status: 'resolved', startsAt: at('09:00'), endsAt: at('10:00'), stored: false });
    expect(applyFiring(g, alert('firing', '09:00'), NOW, 'api')).toBeNull();
    expect(g.status).toBe('resolved');
  });

  it('an open episode that claims to start after now does not outrank a present resolved: it is closed', () => {
    const future = episode('23:00');
    const g = group(future);
    const made = applyResolved(g, alert('resolved', '09:00', '10:00'), NOW, 'api');
    expect(made?.instance).toBe(future);
    expect(future).toMatchObject({ status: 'resolved', resolutionType: 'inferred', endsAt: at('23:00') });
  });
});

describe('applyAlert', () => {
  it('dispatches on the alert status', () => {
    const g = group();
    expect(applyAlert(g, alert('firing', '09:00'), NOW, 'api')?.change).toBe('created');
    expect(applyAlert(g, alert('resolved', '09:00', '09:30'), NOW, 'api')?.change).toBe('resolved');
    expect(g.instances[0]).toMatchObject({ status: 'resolved', endsAt: at('09:30') });
  });
});
