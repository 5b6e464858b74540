import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { EXCHANGES, ROUTING_KEYS, type AlertReceived, type AlertSource, type NormalizedAlert } from '@sentryhub/contracts';
import type { Messaging } from '@sentryhub/messaging';

/** Group commit (SPEC section 4 throughput note): concurrent requests share one confirmed publish. */
export interface CoalescingOptions {
  /** At most this many alerts per group; a bigger request travels alone. */
  maxAlerts: number;
  /**
   * How long a group waits for more requests while a publish slot is free. 0: until the end of
   * the current event-loop turn, so that every request parsed in that turn shares the publish.
   */
  maxWaitMs: number;
  /** Unconfirmed publishes per source; while all are in flight, requests gather. */
  maxInFlight: number;
}

export const DEFAULT_COALESCING: CoalescingOptions = { maxAlerts: 2_000, maxWaitMs: 0, maxInFlight: 16 };

/** One intake request's part of a group. */
export interface IntakeSubmission {
  /** The request (= correlation) id. */
  id: string;
  receivedAt: Date;
  meta: Record<string, unknown>;
  alerts: NormalizedAlert[];
}

interface Waiting {
  submission: IntakeSubmission;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Group {
  waiting: Waiting[];
  alerts: number;
  /** Sealed groups take no more requests and are published as soon as a slot is free. */
  sealed: boolean;
  /** Its wait is over, but every slot was busy: it goes (and seals) when the next slot frees. */
  due: boolean;
}

interface SourceLane {
  /** Sealed groups waiting for a slot, then at most one open group, last. */
  groups: Group[];
  inFlight: number;
  /** A flush of the open group is scheduled (setImmediate or a maxWaitMs timer). */
  flushScheduled: boolean;
}

/** Publishes per group: how many requests and alerts shared one confirmed publish. */
export interface CoalescingObserver {
  /**
   * One publish ended: `seconds` from handing it to the broker until its confirm (or failure),
   * `inFlight` the source's unconfirmed publishes when it started, itself included.
   */
  published(requests: number, alerts: number, ok: boolean, timing: { seconds: number; inFlight: number }): void;
}

/**
 * Coalesces concurrent intake requests of one source into one confirmed `AlertReceived`
 * (group commit). `submit` resolves only after RabbitMQ confirmed the message carrying the
 * request's alerts and rejects with the publish error when it was not confirmed: every
 * request of a failed group gets the same error.
 *
 * When a group goes out:
 * - at once when it reaches `maxAlerts`;
 * - while fewer than `maxInFlight` publishes of the source are unconfirmed: at the end of the
 *   event-loop turn in which its first request arrived (`maxWaitMs` 0), or `maxWaitMs` later;
 * - while all `maxInFlight` are unconfirmed, it keeps gathering requests and goes the moment
 *   one of them is confirmed (or failed).
 * So at low load a request waits for nothing but its own confirm, and under load the slots stay
 * busy with groups that grow as the broker slows down.
 *
 * A group of one request is the message the gateway always sent (id, correlation id and meta
 * of the request). A larger one gets its own id, the earliest `receivedAt`, and
 * `meta.coalesced` = the requests' ids and metas; each alert carries its request's
 * `correlationId` either way.
 */
export class CoalescingPublisher {
  private readonly lanes = new Map<AlertSource, SourceLane>();

  constructor(
    private readonly messaging: Pick<Messaging, 'publish'>,
    private readonly options: CoalescingOptions = DEFAULT_COALESCING,
    private readonly observer?: CoalescingObserver,
  ) {}

  submit(source: AlertSource, submission: IntakeSubmission): Promise<void> {
    for (const alert of submission.alerts) alert.correlationId = submission.id;
    const lane = this.lane(source);
    return new Promise<void>((resolve, reject) => {
      let group = lane.groups.at(-1);
      if (!group || group.sealed || (group.alerts > 0 && group.alerts + submission.alerts.length > this.options.maxAlerts)) {
        if (group) group.sealed = true;
        group = { waiting: [], alerts: 0, sealed: false, due: false };
        lane.groups.push(group);
      }
      group.waiting.push({ submission, resolve, reject });
      group.alerts += submission.alerts.length;
      if (group.alerts >= this.options.maxAlerts) group.sealed = true;
      else this.scheduleFlush(source, lane);
      this.pump(source, lane);
    });
  }

  /** Requests waiting for a publish (queued or unconfirmed) of any source. */
  get pending(): number {
    let count = 0;
    for (const lane of this.lanes.values()) count += lane.inFlight + lane.groups.length;
    return count;
  }

  private lane(source: AlertSource): SourceLane {
    let lane = this.lanes.get(source);
    if (!lane) {
      lane = { groups: [], inFlight: 0, flushScheduled: false };
      this.lanes.set(source, lane);
    }
    return lane;
  }

  /** The open group's wait: to the end of this event-loop turn, or maxWaitMs. */
  private scheduleFlush(source: AlertSource, lane: SourceLane): void {
    if (lane.flushScheduled) return;
    lane.flushScheduled = true;
    const flush = () => {
      lane.flushScheduled = false;
      const open = lane.groups.at(-1);
      if (!open || open.sealed) return;
      if (lane.inFlight < this.options.maxInFlight) open.sealed = true;
      else open.due = true;
      this.pump(source, lane);
    };
    if (this.options.maxWaitMs > 0) setTimeout(flush, this.options.maxWaitMs);
    else setImmediate(flush);
  }

  private pump(source: AlertSource, lane: SourceLane): void {
    while (lane.inFlight < this.options.maxInFlight && lane.groups[0]) {
      const first = lane.groups[0];
      // An open group that waited while every slot was busy goes with the slot that freed.
      if (!first.sealed && first.due) first.sealed = true;
      if (!first.sealed) return;
      lane.groups.shift();
      void this.publish(source, lane, first);
    }
  }

  private async publish(source: AlertSource, lane: SourceLane, group: Group): Promise<void> {
    lane.inFlight++;
    const inFlight = lane.inFlight;
    const started = performance.now();
    const { message, id } = this.message(source, group);
    try {
      await this.messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived(source), message, { messageId: id, correlationId: id });
      this.observer?.published(group.waiting.length, group.alerts, true, { seconds: (performance.now() - started) / 1000, inFlight });
      for (const waiting of group.waiting) waiting.resolve();
    } catch (error) {
      this.observer?.published(group.waiting.length, group.alerts, false, { seconds: (performance.now() - started) / 1000, inFlight });
      for (const waiting of group.waiting) waiting.reject(error);
    } finally {
      lane.inFlight--;
      this.pump(source, lane);
    }
  }

  private message(source: AlertSource, group: Group): { message: AlertReceived; id: string } {
    const [only] = group.waiting;
    if (only && group.waiting.length === 1) {
      const { submission } = only;
      return { id: submission.id, message: { id: submission.id, receivedAt: submission.receivedAt.toISOString(), source, meta: submission.meta, alerts: submission.alerts } };
    }
    const id = randomUUID();
    let receivedAt = Number.POSITIVE_INFINITY;
    const alerts: NormalizedAlert[] = [];
    const coalesced: { correlationId: string; meta: Record<string, unknown> }[] = [];
    for (const { submission } of group.waiting) {
      receivedAt = Math.min(receivedAt, submission.receivedAt.getTime());
      for (const alert of submission.alerts) alerts.push(alert);
      coalesced.push({ correlationId: submission.id, meta: submission.meta });
    }
    return { id, message: { id, receivedAt: new Date(receivedAt).toISOString(), source, meta: { coalesced }, alerts } };
  }
}
