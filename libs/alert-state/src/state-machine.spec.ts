import type { NormalizedAlert } from '@sentryhub/contracts';
import fc from 'fast-check';
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
const groupWith = (...instances: InstanceState[]): GroupState => ({
  id: 1,
  status: 'firing',
  firingCount: 1,
  acknowledged: false,
  acknowledgedBy: null,
  acknowledgedAt: null,
  instances,
  dirty: false,
});
const resolved = (startsAt: string | null, endsAt: string): NormalizedAlert => ({
  fingerprint: 'd2aeefc389ca7746',
  status: 'resolved',
  labels: { alertname: 'X' },
  annotations: {},
  startsAt,
  endsAt,
  generatorURL: null,
  extra: {},
});
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

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-06T10:00:00.000Z');
const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');
const labels = { alertname: 'Wedge' };
const event = (status: 'firing' | 'resolved', startsAt: number | null, endsAt: number | null = null): NormalizedAlert => ({
  fingerprint: 'd2aeefc389ca7746',
  status,
  labels,
  annotations: {},
  startsAt: startsAt === null ? null : new Date(startsAt).toISOString(),
  endsAt: endsAt === null ? null : new Date(endsAt).toISOString(),
  generatorURL: null,
  extra: {},
});
const openOf = (group: GroupState) => group.instances.filter((instance) => instance.status === 'firing');

describe('the far-future takeover (an episode stored before intake had bounds, or sent around it)', () => {
  it('an open episode starting in 9999 does not make a present firing stale: the firing opens, the 9999 one closes at its own start', () => {
    const takeover = stored('9999-12-31T00:00:00Z');
    const group = groupWith(takeover);
    const made = applyAlert(group, event('firing', NOW - 60_000), new Date(NOW), 'webhook', new Date(NOW));
    expect(made).toMatchObject({ change: 'refired', instance: { status: 'firing', startsAt: new Date(NOW - 60_000) } });
    expect(takeover).toMatchObject({ status: 'resolved', resolutionType: 'inferred', endsAt: new Date('9999-12-31T00:00:00Z') });
    // Its resolved closes it normally.
    expect(applyAlert(group, event('resolved', NOW - 60_000, NOW), new Date(NOW), 'webhook', new Date(NOW))).toMatchObject({
      change: 'resolved',
      instance: { resolutionType: 'normal', endsAt: new Date(NOW) },
    });
    expect(group.status).toBe('resolved');
  });

  it('a firing from 9999 closes the open episode at the time it is processed, never with an end in 9999', () => {
    const real = stored(new Date(NOW - DAY).toISOString());
    const group = groupWith(real);
    applyAlert(group, event('firing', Date.parse('9999-12-31T00:00:00Z')), new Date(NOW), 'webhook', new Date(NOW));
    expect(real).toMatchObject({ status: 'resolved', resolutionType: 'inferred', endsAt: new Date(NOW) });
  });

  it('a resolved naming a present episode closes an open episode that claims to start in the future', () => {
    const takeover = stored('9999-12-31T00:00:00Z');
    const group = groupWith(takeover);
    expect(applyAlert(group, event('resolved', NOW - DAY, NOW - 1_000), new Date(NOW), 'api', new Date(NOW))).toMatchObject({
      change: 'resolved',
      instance: takeover,
    });
    expect(openOf(group)).toEqual([]);
    expect(group.status).toBe('resolved');
  });

  it('an end before the start or after the processing time is kept within [start, now]', () => {
    const early = stored(new Date(NOW - DAY).toISOString());
    const group = groupWith(early);
    applyAlert(group, event('resolved', NOW - DAY, NOW - 2 * DAY), new Date(NOW), 'api', new Date(NOW));
    expect(early.endsAt).toEqual(new Date(NOW - DAY));
    const late = stored(new Date(NOW - DAY).toISOString());
    applyAlert(groupWith(late), event('resolved', NOW - DAY, LAST_INSTANT), new Date(NOW), 'api', new Date(NOW));
    expect(late.endsAt).toEqual(new Date(NOW));
  });
});

describe('no sequence of events wedges a group (fast-check)', () => {
  /** Instants as the state machine may see them: far past, around now, far future, and the extremes. */
  const instant = fc
    .oneof(
      fc.integer({ min: FIRST_INSTANT, max: Date.parse('1970-01-01T00:00:00Z') }),
      fc.integer({ min: NOW - 30 * DAY, max: NOW + 30 * DAY }),
      fc.integer({ min: NOW + 365 * DAY, max: LAST_INSTANT }),
      fc.constantFrom(FIRST_INSTANT, LAST_INSTANT, Date.parse('9999-12-31T00:00:00Z'), NOW - 1, NOW + 1),
    )
    .filter((at) => at !== NOW);
  /** An event received (and processed) some time in the 30 days before now. */
  const historyEvent = fc.record({
    status: fc.constantFrom('firing' as const, 'resolved' as const),
    startsAt: fc.option(instant, { nil: null }),
    endsAt: fc.option(instant, { nil: null }),
    receivedAt: fc.integer({ min: NOW - 30 * DAY, max: NOW - 1 }),
  });
  /** Episodes already stored, from before intake had bounds: distinct starts, at most one open (the database's unique index). */
  const storedEpisodes = fc
    .uniqueArray(fc.record({ startsAt: instant, endsAt: fc.option(instant, { nil: null }) }), { maxLength: 4, selector: (episode) => episode.startsAt })
    .chain((episodes) => fc.record({ episodes: fc.constant(episodes), open: fc.integer({ min: -1, max: episodes.length - 1 }) }));

  function invariants(group: GroupState, processedAt: number): void {
    const open = openOf(group);
    expect(open.length).toBeLessThanOrEqual(1);
    expect(group.status).toBe(open.length > 0 ? 'firing' : 'resolved');
    expect(new Set(group.instances.map((instance) => instance.startsAt.getTime())).size).toBe(group.instances.length);
    for (const instance of group.instances) {
      if (instance.stored && !instance.dirty) continue;
      // What this run wrote: a closed episode ends between its start and the time it was processed.
      if (instance.status === 'resolved' && instance.endsAt) {
        expect(instance.endsAt.getTime()).toBeGreaterThanOrEqual(instance.startsAt.getTime());
        expect(instance.endsAt.getTime()).toBeLessThanOrEqual(Math.max(instance.startsAt.getTime(), processedAt));
      }
    }
  }

  it('afterwards, a firing stamped now opens an episode and its matching resolved closes it', () => {
    fc.assert(
      fc.property(storedEpisodes, fc.array(historyEvent, { maxLength: 12 }), ({ episodes, open }, history) => {
        fc.pre(history.every((item) => item.startsAt !== NOW));
        const group = groupWith(
          ...episodes.map((episode, index) => ({
            ...stored(new Date(episode.startsAt).toISOString(), index === open ? 'firing' : 'resolved'),
            endsAt: index === open || episode.endsAt === null ? null : new Date(episode.endsAt),
          })),
        );
        group.status = open >= 0 ? 'firing' : 'resolved';
        const sorted = [...history].sort((a, b) => a.receivedAt - b.receivedAt);
        for (const item of sorted) {
          applyAlert(group, event(item.status, item.startsAt, item.endsAt), new Date(item.receivedAt), 'api', new Date(item.receivedAt));
          invariants(group, item.receivedAt);
        }

        applyAlert(group, event('firing', NOW), new Date(NOW), 'webhook', new Date(NOW));
        invariants(group, NOW);
        const [episode, ...others] = openOf(group);
        expect(others).toEqual([]);
        expect(episode?.startsAt.getTime()).toBe(NOW);
        expect(group.status).toBe('firing');

        const later = NOW + 60_000;
        const made = applyAlert(group, event('resolved', NOW, NOW + 30_000), new Date(later), 'webhook', new Date(later));
        invariants(group, later);
        expect(made?.instance).toBe(episode);
        expect(episode).toMatchObject({ status: 'resolved', resolutionType: 'normal', endsAt: new Date(NOW + 30_000) });
        expect(openOf(group)).toEqual([]);
        expect(group.status).toBe('resolved');
      }),
      { numRuns: 3_000 },
    );
  });
});
