/** How one waiting item came out of a send. */
export type Settlement<R> = { ok: true; value: R } | { ok: false; error: Error };

export interface ChannelPacerOptions<T, R> {
  /**
   * The least time from the end of one send to a channel to the start of the next
   * (1000 / SLACK_MAX_PER_SECOND). Counted from the end, so that two requests never reach
   * Slack closer than this, however long the database or the request took.
   */
  intervalMs: number;
  /**
   * Awaited when a channel's slot opens, before its waiting items are taken (the endpoint's
   * 429 Retry-After): whatever arrives in the meantime goes out with them.
   */
  whenOpen?: () => Promise<void>;
  /**
   * Sends everything that waited for a channel as one message, and says how each item came
   * out, in the order given. A throw fails every item with that error.
   */
  send: (channel: string, items: T[]) => Promise<Settlement<R>[]>;
}

export interface ChannelPacer<T, R> {
  /** Resolves or rejects once the send that carried the item is over. */
  submit(channel: string, item: T): Promise<R>;
  /** Channels with items waiting, being sent, or within their interval after a send. */
  readonly activeChannels: number;
}

interface Waiter<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: Error) => void;
}

interface Lane<T, R> {
  waiting: Waiter<T, R>[];
  /** When the next send to this channel may start: the interval after the last one ended. */
  nextSlotAt: number;
  sending: boolean;
  /** Fires at the next slot: sends what waits, or forgets the idle lane. */
  timer: NodeJS.Timeout | null;
}

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

/**
 * Per-channel pacing with folding (docs/contracts.md §7.1: at most SLACK_MAX_PER_SECOND messages per
 * channel, and one message for what waits instead of a queue that falls behind). An item for
 * an idle channel goes out at once; items that arrive while the channel is within its
 * interval wait for the next slot, and all of them go out together in that one send. A
 * channel has at most one send in flight, so its messages never overtake one another.
 *
 * In-process only: the items are the broker messages in flight, which stay unacked until
 * their send is over, so a crash loses nothing (the broker redelivers them).
 */
export function channelPacer<T, R>(options: ChannelPacerOptions<T, R>): ChannelPacer<T, R> {
  const lanes = new Map<string, Lane<T, R>>();

  const arm = (channel: string, lane: Lane<T, R>) => {
    // Even an open slot waits for the next macrotask: items submitted in the same turn (the
    // changes of one event) go out together.
    lane.timer = setTimeout(
      () => {
        lane.timer = null;
        if (lane.waiting.length > 0) void run(channel, lane);
        else lanes.delete(channel);
      },
      Math.max(0, lane.nextSlotAt - Date.now()),
    );
  };

  const run = async (channel: string, lane: Lane<T, R>) => {
    lane.sending = true;
    let batch: Waiter<T, R>[] = [];
    try {
      await options.whenOpen?.();
      batch = lane.waiting.splice(0);
      let settlements: Settlement<R>[];
      try {
        settlements = await options.send(
          channel,
          batch.map((waiter) => waiter.item),
        );
      } catch (error) {
        settlements = batch.map(() => ({ ok: false, error: asError(error) }));
      }
      batch.forEach((waiter, index) => {
        const settlement = settlements[index] ?? { ok: false, error: new Error('the send gave no outcome for this item') };
        if (settlement.ok) waiter.resolve(settlement.value);
        else waiter.reject(settlement.error);
      });
    } catch (error) {
      for (const waiter of [...batch, ...lane.waiting.splice(0)]) waiter.reject(asError(error));
    } finally {
      lane.sending = false;
      lane.nextSlotAt = Date.now() + options.intervalMs;
      arm(channel, lane);
    }
  };

  return {
    submit: (channel, item) =>
      new Promise<R>((resolve, reject) => {
        let lane = lanes.get(channel);
        if (!lane) {
          lane = { waiting: [], nextSlotAt: 0, sending: false, timer: null };
          lanes.set(channel, lane);
        }
        lane.waiting.push({ item, resolve, reject });
        // A lane that is sending, or has its timer set, picks the item up at its next slot.
        if (!lane.sending && !lane.timer) arm(channel, lane);
      }),
    get activeChannels() {
      return lanes.size;
    },
  };
}
