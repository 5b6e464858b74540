import { backoffDelay } from '@sentryhub/service-runtime';
import type { AckOrNack, SubscriberSessionAsPromised } from 'rascal';
import type { Messaging } from './broker';
import { budget } from './budget';
import { consume, isDependencyDown, type Arrival, type CommonOptions, type Delivery, type HandlerContext } from './recovery';

export { PROVENANCE_HEADERS, provenanceOf, publishedBySentryHub, retriesDone, type Delivery, type HandlerContext } from './recovery';

export interface SubscribeOptions<T> extends CommonOptions<T> {
  handler: (data: T, context: HandlerContext) => Promise<void>;
  /**
   * Bytes of delivered messages decoded and parsed at once: each message takes its size before it
   * is parsed and gives it back once it is acked, retried or dead-lettered (budget.ts). A parsed
   * message takes several times its bytes, so a prefetch in messages alone bounds nothing in
   * memory; past this bound the rest of the prefetch waits as the bytes RabbitMQ delivered.
   * Unbounded when not given.
   */
  maxParsedBytes?: number;
}

export interface BatchSubscribeOptions<T> extends CommonOptions<T> {
  /** Handles valid messages together; they are acked together when it resolves. */
  handler: (batch: Delivery<T>[]) => Promise<void>;
  /** Flush once the batch weighs this much (by default a message weighs 1). */
  maxWeight: number;
  weight?: (data: T) => number;
  /** Flush at the latest this long after the first message of a batch arrived. */
  maxWaitMs: number;
  /**
   * While a dependency is down (DependencyUnavailableError) the batch is held, unacked, and
   * written again after this delay, doubling up to ten times it: the broker keeps the rest
   * of the queue, nothing goes round the retry queues. Default 1,000 ms.
   */
  holdRetryMs?: number;
}

export interface Subscription {
  session: SubscriberSessionAsPromised;
  cancel(): Promise<void>;
}

/** One message at a time: acked when the handler resolves, recovered when it throws. */
export async function subscribe<T>(messaging: Messaging, options: SubscribeOptions<T>): Promise<Subscription> {
  const handle = ({ open, ackOrNack }: Arrival<T>, release: () => void) => {
    const delivery = open();
    if (!delivery) return release();
    const timer = messaging.metrics?.handlerSeconds.startTimer({ queue: options.queue });
    options
      .handler(delivery.data, delivery.context)
      .finally(() => timer?.())
      .then(() => {
        ackOrNack();
        count('acked');
      })
      .catch((error: unknown) => recover(delivery, ackOrNack, error))
      .catch((error: unknown) => options.logger.error({ err: error }, 'unexpected subscriber failure'))
      .finally(release);
  };
  const parsed = options.maxParsedBytes === undefined ? null : budget(options.maxParsedBytes);
  const gauge = () => {
    messaging.metrics?.parsedBytes.set({ queue: options.queue }, parsed?.held ?? 0);
    messaging.metrics?.unparsedMessages.set({ queue: options.queue }, parsed?.waiting.messages ?? 0);
  };
  const { session, recover, count } = await consume(messaging, options, (arrival) => {
    if (!parsed) return handle(arrival, () => undefined);
    const taken = parsed.acquire(arrival.bytes);
    gauge();
    void taken.then((giveBack) => {
      gauge();
      handle(arrival, () => {
        giveBack();
        gauge();
      });
    });
  });
  return { session, cancel: async () => void (await session.cancel()) };
}

/**
 * Valid messages are gathered into batches and handled one batch at a time: a batch closes
 * when it weighs `maxWeight` or `maxWaitMs` after its first message, whichever comes first; one
 * that closes while another batch is being written goes as soon as that one is done. So at a
 * steady pace a batch holds what arrives in `maxWaitMs`, and under a backlog batches are full
 * (never past `maxWeight`). A batch is acked when its handler resolves. When it throws because a
 * dependency is down, the batch is held and written again with back-off (on shutdown, its
 * messages are recovered by the policy above instead); any other error
 * splits the batch in halves, handled again, until the messages that fail stand alone and
 * only they are retried or dead-lettered. Invalid messages are dead-lettered on their own and
 * never fail a batch. Messages are decoded and parsed as they arrive only while fewer than two
 * batches' weight is parsed and waiting; the rest of the prefetch waits as the bytes RabbitMQ
 * delivered and is parsed when its batch is cut (a parsed alert takes several times its bytes).
 */
export async function subscribeBatch<T>(messaging: Messaging, options: BatchSubscribeOptions<T>): Promise<Subscription> {
  const weigh = options.weight ?? (() => 1);
  type Ready = { delivery: Delivery<T>; ackOrNack: AckOrNack; weight: number };
  /** Gathered messages, in order: opened (parsed) ones, and past twice `maxWeight` unopened ones, parsed when their batch is cut. */
  let pending: (Ready | { delivery: null; open: () => Delivery<T> | null; ackOrNack: AckOrNack })[] = [];
  /** The weight of the opened messages of `pending`. */
  let pendingWeight = 0;
  let timer: NodeJS.Timeout | null = null;
  /** A batch is being written: the next one keeps gathering until it is done. */
  let writing = false;
  /** The gathering batch closed (full, its wait over, or left over from a cut) while another was written: it goes when that one is done. */
  let due = false;

  const holdRetryMs = options.holdRetryMs ?? 1_000;
  let stopping = false;
  /** Wakes a batch held for a dependency when the subscription is cancelled. */
  let wakeHeld: (() => void) | null = null;
  const hold = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeHeld = () => (clearTimeout(timer), resolve());
    }).finally(() => (wakeHeld = null));

  async function write(batch: Ready[], held = 0): Promise<void> {
    const stopTimer = messaging.metrics?.handlerSeconds.startTimer({ queue: options.queue });
    try {
      await options.handler(batch.map((item) => item.delivery));
      stopTimer?.();
      for (const item of batch) item.ackOrNack();
      messaging.metrics?.consumed.inc({ queue: options.queue, outcome: 'acked' }, batch.length);
      if (held > 0) options.logger.info({ messages: batch.length, tries: held + 1 }, 'dependency back; held batch written');
    } catch (error) {
      stopTimer?.();
      const dependencyDown = isDependencyDown(error, options.dependencyUnavailable);
      if (dependencyDown && !stopping) {
        // No hot loop and no republishing while the database is down: hold this batch (the
        // broker holds the rest, up to the prefetch) and try it again a little later.
        const delayMs = backoffDelay(held, { baseMs: holdRetryMs, maxMs: holdRetryMs * 10 });
        if (held === 0) options.logger.warn({ err: error, messages: batch.length, delayMs }, 'dependency unavailable; holding the batch and trying again');
        await hold(delayMs);
        return write(batch, held + 1);
      }
      if (batch.length > 1 && !dependencyDown) {
        // One bad message must not send its good batch-mates through the retries (and, in
        // the end, to the dead letters): halve the batch until the failing ones stand alone.
        options.logger.warn({ err: error, messages: batch.length }, 'batch failed; splitting it to isolate the failing messages');
        const half = Math.ceil(batch.length / 2);
        await write(batch.slice(0, half));
        await write(batch.slice(half));
        return;
      }
      options.logger.warn({ err: error, messages: batch.length }, 'batch failed; recovering each message');
      await Promise.all(batch.map((item) => recover(item.delivery, item.ackOrNack, error)));
    }
  }

  let running: Promise<void> = Promise.resolve();
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending.length === 0) return;
    if (writing) {
      due = true;
      return;
    }
    due = false;
    // At most maxWeight per batch (at least one message): the rest is the next batch.
    const batch: Ready[] = [];
    let take = 0;
    let weight = 0;
    while (take < pending.length && (batch.length === 0 || weight < options.maxWeight)) {
      const item = pending[take] as (typeof pending)[number];
      take += 1;
      let ready: Ready | null = null;
      if (item.delivery === null) {
        // Parsed now that its batch is cut; an invalid one is dead-lettered and left out.
        const delivery = item.open();
        if (delivery) ready = { delivery, ackOrNack: item.ackOrNack, weight: weigh(delivery.data) };
      } else {
        ready = item;
        pendingWeight -= item.weight;
      }
      if (ready) {
        batch.push(ready);
        weight += ready.weight;
      }
    }
    pending = pending.slice(take);
    // What did not fit was waiting already: it goes as soon as this batch is written.
    if (pending.length > 0) due = true;
    if (batch.length === 0) return flush();
    writing = true;
    running = write(batch).finally(() => {
      writing = false;
      // The next batch goes now only if it closed meanwhile; otherwise it keeps gathering until
      // its wait is over (at a steady pace, batches of maxWaitMs instead of one write's time).
      if (due || pendingWeight >= options.maxWeight) flush();
      else if (pending.length > 0) timer ??= setTimeout(flush, options.maxWaitMs);
    });
  };

  const { session, recover } = await consume(messaging, options, ({ open, ackOrNack }) => {
    if (pendingWeight < options.maxWeight * 2) {
      const delivery = open();
      if (!delivery) return;
      const weight = weigh(delivery.data);
      pending.push({ delivery, ackOrNack, weight });
      pendingWeight += weight;
    } else {
      // Two batches are parsed and waiting: the rest of the prefetch stays bytes until its turn.
      pending.push({ delivery: null, open, ackOrNack });
    }
    if (pendingWeight >= options.maxWeight) flush();
    else timer ??= setTimeout(flush, options.maxWaitMs);
  });
  return {
    session,
    cancel: async () => {
      // Rascal's cancel waits for unacked messages: stop the consumer, then finish the batches
      // (a batch held for a dependency goes through the recovery policy instead of waiting).
      stopping = true;
      wakeHeld?.();
      const cancelled = session.cancel();
      flush();
      while (writing || pending.length > 0) {
        await running;
        flush();
      }
      await cancelled;
    },
  };
}
