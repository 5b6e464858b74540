import { describe, expect, it } from 'vitest';
import { groupDeadLetterEvent, groupDeadLetterPublisher, groupSendAttempt, groupSendTry } from './group-send';
import { TimerRetryError, type EpisodeNow } from './timers';

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
    group: {
      id: instanceId * 10,
      fingerprint: `f${instanceId}`,
      name: 'HighCPU',
      labels: { alertname: 'HighCPU', team: 'ops' },
      severity: 'warning',
      instance: null,
      source: 'webhook',
      status,
      firingCount: 1,
      silenced: false,
      silencedUntil: null,
      acknowledged: false,
    },
    instance: {
      id: instanceId,
      status,
      startsAt: '2026-12-06T08:00:00.000Z',
      endsAt: status === 'resolved' ? '2026-12-06T09:00:00.000Z' : null,
      annotations: {},
      generatorURL: null,
      resolutionType: status === 'resolved' ? 'normal' : null,
    },
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
    const deadLetter = groupDeadLetterPublisher(
      () => ({ publish: async (...args: unknown[]) => void published.push(args) }),
      'slack-notifier.alerts-processed',
    );
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

describe('groupSendTry', () => {
  const delays = [1_000, 5_000];
  const sent = { status: 'sent' as const, lastError: null, deliveredVia: 'webhook' as const };
  const rows = [{ instance_id: 1, kind: 'firing' }];
  const episodes = new Map([[1, episode(1, 'firing')]]);
  const options = (deadLetters: unknown[][]) => ({
    retryDelaysMs: delays,
    deadLetter: async (...args: unknown[]) => void deadLetters.push(args),
    retryFallbackMs: 60_000,
    notTaken: 'the receiver did not take the group body',
  });

  it('records the rows sent when taken and failed when refused, without a retry or a dead letter', async () => {
    const deadLetters: unknown[][] = [];
    const taken = groupSendTry({ attempts: 3 }, options(deadLetters));
    expect(await taken.record({ outcome: 'sent' }, sent, rows, episodes)).toEqual(sent);
    expect(taken.settle()).toBeNull();
    const refused = groupSendTry({ attempts: 3 }, options(deadLetters));
    expect(await refused.record({ outcome: 'rejected', error: '400 bad body' }, sent, rows, episodes)).toEqual({ status: 'failed', lastError: '400 bad body' });
    expect(refused.settle()).toBeNull();
    expect(deadLetters).toEqual([]);
  });

  it('leaves the rows pending when not taken and tries again after the next delay', async () => {
    const notTaken = groupSendTry({ attempts: 2 }, options([]));
    expect(await notTaken.record({ outcome: 'retry', error: '503', rateLimited: false }, sent, rows, episodes)).toEqual({
      status: 'pending',
      lastError: '503',
    });
    const retry = (() => {
      try {
        notTaken.settle();
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(retry).toBeInstanceOf(TimerRetryError);
    expect(retry).toMatchObject({ retryInMs: 5_000, message: 'the receiver did not take the group body; tried again later: 503' });
  });

  it('does not end on a 429: a rate-limited last try waits the fallback and stays pending', async () => {
    const deadLetters: unknown[][] = [];
    const limited = groupSendTry({ attempts: 3 }, options(deadLetters));
    expect(await limited.record({ outcome: 'retry', error: '429', rateLimited: true }, sent, rows, episodes)).toEqual({ status: 'pending', lastError: '429' });
    expect(() => limited.settle()).toThrow(expect.objectContaining({ retryInMs: 60_000 }));
    expect(deadLetters).toEqual([]);
  });

  it('fails the rows on the last try not taken, after dead-lettering their alerts with the reason', async () => {
    const deadLetters: unknown[][] = [];
    const lastTry = groupSendTry({ attempts: 3 }, options(deadLetters));
    expect(await lastTry.record({ outcome: 'retry', error: '503', rateLimited: false }, sent, rows, episodes)).toEqual({ status: 'failed', lastError: '503' });
    expect(lastTry.settle()).toEqual({ error: '503' });
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]?.[0]).toMatchObject({ status: 'firing', changes: [{ instance: { id: 1 } }] });
    expect(deadLetters[0]?.[1]).toBe('retries exhausted after 3 attempts: 503');
  });

  it('leaves the rows to the next try when the dead letter cannot be published', async () => {
    const lastTry = groupSendTry({ attempts: 3 }, { ...options([]), deadLetter: async () => Promise.reject(new Error('not connected')) });
    await expect(lastTry.record({ outcome: 'retry', error: '503', rateLimited: false }, sent, rows, episodes)).rejects.toThrow('not connected');
  });
});
