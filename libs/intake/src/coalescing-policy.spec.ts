import type { AlertReceived, NormalizedAlert } from '@sentryhub/contracts';
import { PublishError, type Messaging } from '@sentryhub/messaging';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CoalescingPublisher, type CoalescingOptions, type IntakeSubmission } from './coalescing-publisher';

/** A broker stand-in whose confirms the test gives (or refuses) one publish at a time. */
class ManualBroker implements Pick<Messaging, 'publish'> {
  readonly publishes: { message: AlertReceived; confirm: () => void; fail: (error: unknown) => void; settled: boolean }[] = [];
  maxUnconfirmed = 0;

  get unconfirmed(): number {
    return this.publishes.filter((publish) => !publish.settled).length;
  }

  publish(_exchange: string, _routingKey: string, body: unknown): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const entry = {
        message: JSON.parse(String(body)) as AlertReceived,
        settled: false,
        confirm: () => {
          entry.settled = true;
          resolve('ok');
        },
        fail: (error: unknown) => {
          entry.settled = true;
          reject(error);
        },
      };
      this.publishes.push(entry);
      this.maxUnconfirmed = Math.max(this.maxUnconfirmed, this.unconfirmed);
    });
  }

  /** The request ids a publish carried. */
  requests(index: number): string[] {
    return [...new Set(this.publishes[index]?.message.alerts.map((alert) => alert.correlationId ?? '') ?? [])];
  }
}

/** Lets every callback of this event-loop turn run (setImmediate callbacks run in order). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function submission(id: string, alerts = 1): IntakeSubmission {
  return {
    id,
    receivedAt: new Date('2026-03-01T12:00:00Z'),
    meta: { request: id },
    alerts: Array.from({ length: alerts }, (_, n): NormalizedAlert => ({
      fingerprint: `${id}-${n}`.padEnd(16, '0').slice(0, 16),
      status: 'firing',
      labels: { alertname: id, n: String(n) },
      annotations: {},
      startsAt: '2026-03-01T12:00:00Z',
      endsAt: null,
      generatorURL: null,
      extra: {},
    })),
  };
}

/** Submits and records whether (and how) the request was answered. */
function submit(publisher: CoalescingPublisher, id: string, alerts = 1) {
  const state = { id, answer: 'waiting' as 'waiting' | 'confirmed' | 'failed', error: undefined as unknown };
  publisher.submit('webhook', submission(id, alerts)).then(
    () => (state.answer = 'confirmed'),
    (error: unknown) => {
      state.answer = 'failed';
      state.error = error;
    },
  );
  return state;
}

const options = (overrides: Partial<CoalescingOptions> = {}): CoalescingOptions => ({ maxAlerts: 1_000, maxWaitMs: 0, maxInFlight: 2, ...overrides });

describe('group commit policy (CoalescingPublisher, broker stand-in)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('publishes a lone request at the end of its event-loop turn, without waiting for a timer, and answers it on the confirm only', async () => {
    const broker = new ManualBroker();
    const publisher = new CoalescingPublisher(broker, options());
    const alone = submit(publisher, 'alone');
    expect(broker.publishes).toHaveLength(0);
    await nextTurn();
    expect(broker.publishes).toHaveLength(1);
    expect(broker.publishes[0]?.message.id).toBe('alone');
    await nextTurn();
    expect(alone.answer).toBe('waiting');
    broker.publishes[0]?.confirm();
    await nextTurn();
    expect(alone.answer).toBe('confirmed');
  });

  it('puts every request of one event-loop turn into one publish', async () => {
    const broker = new ManualBroker();
    const publisher = new CoalescingPublisher(broker, options());
    const requests = ['a', 'b', 'c', 'd', 'e'].map((id) => submit(publisher, id, 2));
    await nextTurn();
    expect(broker.publishes).toHaveLength(1);
    expect(broker.requests(0)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(broker.publishes[0]?.message.alerts).toHaveLength(10);
    expect((broker.publishes[0]?.message.meta['coalesced'] as unknown[]).length).toBe(5);
    broker.publishes[0]?.confirm();
    await nextTurn();
    expect(requests.map((request) => request.answer)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed', 'confirmed']);
  });

  it('keeps up to maxInFlight publishes unconfirmed; beyond that requests gather and go together the moment a slot frees', async () => {
    const broker = new ManualBroker();
    const publisher = new CoalescingPublisher(broker, options({ maxInFlight: 2 }));
    const first = submit(publisher, 'first');
    await nextTurn();
    const second = submit(publisher, 'second');
    await nextTurn();
    // Two slots, two publishes in flight: later requests wait, over several turns, in one group.
    expect(broker.publishes).toHaveLength(2);
    const gathered = [submit(publisher, 'third')];
    await nextTurn();
    gathered.push(submit(publisher, 'fourth'));
    await nextTurn();
    gathered.push(submit(publisher, 'fifth'));
    await nextTurn();
    expect(broker.publishes).toHaveLength(2);

    broker.publishes[1]?.confirm();
    await nextTurn();
    expect(second.answer).toBe('confirmed');
    expect(first.answer).toBe('waiting');
    expect(broker.publishes).toHaveLength(3);
    expect(broker.requests(2)).toEqual(['third', 'fourth', 'fifth']);
    expect(gathered.map((request) => request.answer)).toEqual(['waiting', 'waiting', 'waiting']);

    broker.publishes[0]?.confirm();
    broker.publishes[2]?.confirm();
    await nextTurn();
    expect([first, ...gathered].map((request) => request.answer)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed']);
    expect(broker.maxUnconfirmed).toBe(2);
  });

  it('fails every request of a group with its publish error, and the next group still goes', async () => {
    const broker = new ManualBroker();
    const publisher = new CoalescingPublisher(broker, options({ maxInFlight: 1 }));
    const doomed = [submit(publisher, 'doomed-1'), submit(publisher, 'doomed-2')];
    await nextTurn();
    const later = submit(publisher, 'later');
    await nextTurn();
    expect(broker.publishes).toHaveLength(1);
    const error = new PublishError('RabbitMQ refused the publish (nack)', 'error');
    broker.publishes[0]?.fail(error);
    await nextTurn();
    expect(doomed.map((request) => [request.answer, request.error])).toEqual([
      ['failed', error],
      ['failed', error],
    ]);
    expect(broker.publishes).toHaveLength(2);
    expect(broker.requests(1)).toEqual(['later']);
    broker.publishes[1]?.confirm();
    await nextTurn();
    expect(later.answer).toBe('confirmed');
  });

  it('closes a group at maxAlerts at once; a request bigger than maxAlerts travels alone', async () => {
    const broker = new ManualBroker();
    const publisher = new CoalescingPublisher(broker, options({ maxAlerts: 10, maxInFlight: 8 }));
    submit(publisher, 'six', 6);
    submit(publisher, 'four', 4);
    // Full: published in this turn already, not at its end.
    expect(broker.publishes).toHaveLength(1);
    expect(broker.requests(0)).toEqual(['six', 'four']);
    submit(publisher, 'big', 25);
    submit(publisher, 'small', 1);
    expect(broker.requests(1)).toEqual(['big']);
    await nextTurn();
    expect(broker.publishes).toHaveLength(3);
    expect(broker.requests(2)).toEqual(['small']);
  });

  it('with maxWaitMs above 0 a group waits that long for company while a slot is free', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const broker = new ManualBroker();
    const publisher = new CoalescingPublisher(broker, options({ maxWaitMs: 50 }));
    submit(publisher, 'early');
    await nextTurn();
    submit(publisher, 'late');
    await nextTurn();
    expect(broker.publishes).toHaveLength(0);
    vi.advanceTimersByTime(50);
    expect(broker.publishes).toHaveLength(1);
    expect(broker.requests(0)).toEqual(['early', 'late']);
  });
});
