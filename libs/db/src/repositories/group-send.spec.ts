import { describe, expect, it } from 'vitest';
import { groupDeadLetterEvent, groupDeadLetterPublisher, groupSendAttempt, type EpisodeNow } from './timers';

/** A group's message that its receiver does not take: how long it backs off, when it ends, what its dead letter says. */
describe('groupSendAttempt', () => {
  const delays = [1_000, 5_000, 30_000];

  it('backs off over the retry delays, one per failed try, and the try after the last delay is the last', () => {
    expect([1, 2, 3, 4].map((attempts) => groupSendAttempt({ attempts }, delays))).toEqual([
      { last: false, retryInMs: 1_000 },
      { last: false, retryInMs: 5_000 },
      { last: false, retryInMs: 30_000 },
      { last: true, retryInMs: 0 },
    ]);
  });

  it('counts an unclaimed timer as its first try, and a try past the last as the last again', () => {
    expect(groupSendAttempt({ attempts: 0 }, delays)).toEqual({ last: false, retryInMs: 1_000 });
    expect(groupSendAttempt({ attempts: 9 }, delays)).toEqual({ last: true, retryInMs: 0 });
    expect(groupSendAttempt({ attempts: 1 }, [])).toEqual({ last: true, retryInMs: 0 });
  });
});

const episode = (instanceId: number, status: 'firing' | 'resolved'): EpisodeNow => ({
  latest: true,
  change: {
    change: 'created',
    group: { id: instanceId * 10, fingerprint: `f${instanceId}`, name: 'HighCPU', labels: { alertname: 'HighCPU', team: 'ops' }, severity: 'warning', instance: null, source: 'webhook', status, firingCount: 1, silenced: false, silencedUntil: null, acknowledged: false },
    instance: { id: instanceId, status, startsAt: '2026-12-06T08:00:00.000Z', endsAt: status === 'resolved' ? '2026-12-06T09:00:00.000Z' : null, annotations: {}, generatorURL: null, resolutionType: status === 'resolved' ? 'normal' : null },
  },
});

describe('groupDeadLetterEvent', () => {
  const now = new Date('2026-12-06T10:00:00.000Z');

  it('is an alert.processed event of the alerts as the rows told them; gone ones are left out', () => {
    // Instance 1 resolved since its firing row was made: the dead letter still says what was not told, its firing.
    const episodes = new Map([
      [1, episode(1, 'resolved')],
      [2, episode(2, 'resolved')],
    ]);
    const event = groupDeadLetterEvent(
      [
        { instance_id: 1, kind: 'firing' },
        { instance_id: 2, kind: 'resolved' },
        { instance_id: 3, kind: 'firing' },
      ],
      episodes,
      now,
    );
    expect(event).toMatchObject({ processedAt: now.toISOString(), status: 'firing' });
    expect(event?.changes.map((change) => [change.instance.id, change.change, change.instance.status, change.instance.endsAt])).toEqual([
      [1, 'created', 'firing', null],
      [2, 'resolved', 'resolved', '2026-12-06T09:00:00.000Z'],
    ]);
  });

  it('is resolved when nothing in it fires, and null when every alert is gone', () => {
    expect(groupDeadLetterEvent([{ instance_id: 2, kind: 'resolved' }], new Map([[2, episode(2, 'resolved')]]), now)?.status).toBe('resolved');
    expect(groupDeadLetterEvent([{ instance_id: 3, kind: 'firing' }], new Map(), now)).toBeNull();
  });
});

describe('groupDeadLetterPublisher', () => {
  it("publishes to the dead-letter exchange under the notifier's queue, with the reason and where it came from", async () => {
    const published: unknown[][] = [];
    const deadLetter = groupDeadLetterPublisher(() => ({ publish: async (...args: unknown[]) => void published.push(args) }), 'slack-notifier.alerts-processed');
    const event = groupDeadLetterEvent([{ instance_id: 1, kind: 'firing' }], new Map([[1, episode(1, 'firing')]]));
    if (!event) throw new Error('no event');
    await deadLetter(event, 'retries exhausted after 5 attempts: Slack answered 503');
    expect(published).toEqual([
      [
        'dead-letter',
        'slack-notifier.alerts-processed',
        event,
        {
          messageId: event.id,
          headers: {
            'x-error': 'retries exhausted after 5 attempts: Slack answered 503',
            'x-error-path': '',
            'x-original-exchange': 'alerts',
            'x-original-routing-key': 'alert.processed.firing',
            'x-original-queue': 'slack-notifier.alerts-processed',
          },
        },
      ],
    ]);
  });

  it('fails before the broker is connected, so that the rows stay pending and the timer tries again', async () => {
    const deadLetter = groupDeadLetterPublisher(() => null, 'webhook-notifier.alerts-processed');
    const event = groupDeadLetterEvent([{ instance_id: 1, kind: 'firing' }], new Map([[1, episode(1, 'firing')]]));
    if (!event) throw new Error('no event');
    await expect(deadLetter(event, 'x')).rejects.toThrow('not connected to the broker yet');
  });
});
