import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { channelPacer, type Settlement } from './channel-pacer';

interface Sent {
  channel: string;
  items: string[];
  at: number;
}

/** A pacer whose sends are recorded; `answer` decides each item's settlement. */
function recordingPacer(options: { intervalMs?: number; sendMs?: number; answer?: (item: string) => Settlement<string>; whenOpen?: () => Promise<void> } = {}) {
  const sent: Sent[] = [];
  const pacer = channelPacer<string, string>({
    intervalMs: options.intervalMs ?? 1_000,
    ...(options.whenOpen ? { whenOpen: options.whenOpen } : {}),
    send: async (channel, items) => {
      sent.push({ channel, items, at: Date.now() });
      if (options.sendMs) await new Promise((resolve) => setTimeout(resolve, options.sendMs));
      return items.map((item) => options.answer?.(item) ?? { ok: true, value: `sent ${item}` });
    },
  });
  return { pacer, sent };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('channelPacer', () => {
  it('sends an item for an idle channel at once, alone', async () => {
    const { pacer, sent } = recordingPacer();
    const done = pacer.submit('#a', 'one');
    await vi.advanceTimersByTimeAsync(0);
    await expect(done).resolves.toBe('sent one');
    expect(sent).toEqual([{ channel: '#a', items: ['one'], at: 0 }]);
  });

  it('folds what arrives within the interval into one send at the next slot', async () => {
    const { pacer, sent } = recordingPacer();
    const first = pacer.submit('#a', 'first');
    await vi.advanceTimersByTimeAsync(10);
    const waiting = ['b', 'c', 'd'].map((item, index) => {
      vi.setSystemTime(100 * (index + 1));
      return pacer.submit('#a', item);
    });
    await vi.advanceTimersByTimeAsync(500);
    // Not before the slot: only the first send so far.
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await first).toBe('sent first');
    expect(await Promise.all(waiting)).toEqual(['sent b', 'sent c', 'sent d']);
    expect(sent.map((s) => s.items)).toEqual([['first'], ['b', 'c', 'd']]);
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
  });

  it('sends what is submitted in the same turn together, even on an idle channel', async () => {
    const { pacer, sent } = recordingPacer();
    const all = Promise.all(['x', 'y', 'z'].map((item) => pacer.submit('#a', item)));
    await vi.advanceTimersByTimeAsync(0);
    expect(await all).toEqual(['sent x', 'sent y', 'sent z']);
    expect(sent.map((s) => s.items)).toEqual([['x', 'y', 'z']]);
  });

  it('paces each channel on its own', async () => {
    const { pacer, sent } = recordingPacer();
    void pacer.submit('#a', 'a1');
    await vi.advanceTimersByTimeAsync(10);
    void pacer.submit('#a', 'a2');
    void pacer.submit('#b', 'b1');
    await vi.advanceTimersByTimeAsync(10);
    expect(sent.map((s) => [s.channel, s.items])).toEqual([
      ['#a', ['a1']],
      ['#b', ['b1']],
    ]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent.map((s) => [s.channel, s.items])).toContainEqual(['#a', ['a2']]);
  });

  it('keeps one send in flight per channel: what arrives during a slow send waits for it', async () => {
    const { pacer, sent } = recordingPacer({ intervalMs: 100, sendMs: 2_000 });
    void pacer.submit('#a', 'slow');
    await vi.advanceTimersByTimeAsync(500);
    const later = pacer.submit('#a', 'later');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    // The slow send ended at 2000; the interval counts from there.
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent.map((s) => s.items)).toEqual([['slow'], ['later']]);
    expect(sent[1]?.at).toBe(2_100);
    await vi.advanceTimersByTimeAsync(2_000);
    await expect(later).resolves.toBe('sent later');
  });

  it('settles each item as the send says, and fails them all when the send throws', async () => {
    const { pacer } = recordingPacer({ answer: (item) => (item === 'bad' ? { ok: false, error: new Error(`no ${item}`) } : { ok: true, value: item }) });
    const results = Promise.allSettled([pacer.submit('#a', 'good'), pacer.submit('#a', 'bad')]);
    await vi.advanceTimersByTimeAsync(0);
    expect((await results).map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['good', 'no bad']);

    const throwing = channelPacer<string, string>({ intervalMs: 10, send: () => Promise.reject(new Error('database down')) });
    const failed = Promise.allSettled([throwing.submit('#a', '1'), throwing.submit('#a', '2')]);
    await vi.advanceTimersByTimeAsync(0);
    expect((await failed).map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'resolved'))).toEqual(['database down', 'database down']);
  });

  it('waits for the endpoint to open (a 429 Retry-After), and takes what arrived meanwhile along', async () => {
    let open = 3_000;
    const { pacer, sent } = recordingPacer({
      whenOpen: async () => {
        const wait = open - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      },
    });
    void pacer.submit('#a', 'blocked');
    await vi.advanceTimersByTimeAsync(2_000);
    void pacer.submit('#a', 'meanwhile');
    await vi.advanceTimersByTimeAsync(500);
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(600);
    expect(sent).toEqual([{ channel: '#a', items: ['blocked', 'meanwhile'], at: 3_000 }]);
    open = 0;
  });

  it('forgets a channel once its interval has passed with nothing waiting', async () => {
    const { pacer } = recordingPacer({ intervalMs: 1_000 });
    void pacer.submit('#a', 'one');
    await vi.advanceTimersByTimeAsync(10);
    expect(pacer.activeChannels).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(pacer.activeChannels).toBe(0);
  });
});
