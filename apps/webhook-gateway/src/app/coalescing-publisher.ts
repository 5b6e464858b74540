import { randomUUID } from 'node:crypto';
import { EXCHANGES, ROUTING_KEYS, type AlertReceived, type AlertSource, type NormalizedAlert } from '@sentryhub/contracts';
import type { Messaging } from '@sentryhub/messaging';

/** Group commit (SPEC section 4 throughput note): concurrent requests share one confirmed publish. */
export interface CoalescingOptions {
  maxAlerts: number;
  maxWaitMs: number;
  maxInFlight: number;
}

export const DEFAULT_COALESCING: CoalescingOptions = { maxAlerts: 2_000, maxWaitMs: 2, maxInFlight: 8 };

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
}

interface SourceLane {
  groups: Group[];
  inFlight: number;
  timer: NodeJS.Timeout | null;
}

/** Publishes per group: how many requests and alerts shared one confirmed publish. */
export interface CoalescingObserver {
  published(requests: number, alerts: number, ok: boolean): void;
}

/**
 * Coalesces concurrent intake requests of one source into one confirmed `AlertReceived`
 * (group commit). `submit` resolves only after RabbitMQ confirmed the message carrying the
 * request's alerts and rejects with the publish error when it was not confirmed: every
 * request of a failed group gets the same error. A group goes out when it reaches
 * `maxAlerts`, `maxWaitMs` after its first request, or, while `maxInFlight` publishes of the
 * source are unconfirmed, as soon as one of them is confirmed: under load groups grow, at
 * low load a request waits at most `maxWaitMs`.
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
        group = { waiting: [], alerts: 0, sealed: false };
        lane.groups.push(group);
      }
      group.waiting.push({ submission, resolve, reject });
      group.alerts += submission.alerts.length;
      if (group.alerts >= this.options.maxAlerts) group.sealed = true;
      if (!group.sealed && lane.timer === null) {
        lane.timer = setTimeout(() => {
          lane.timer = null;
          const open = lane.groups.at(-1);
          if (open) open.sealed = true;
          this.pump(source, lane);
        }, this.options.maxWaitMs);
      }
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
      lane = { groups: [], inFlight: 0, timer: null };
      this.lanes.set(source, lane);
    }
    return lane;
  }

  private pump(source: AlertSource, lane: SourceLane): void {
    while (lane.inFlight < this.options.maxInFlight && lane.groups[0]?.sealed) {
      const group = lane.groups.shift();
      if (group) void this.publish(source, lane, group);
    }
  }

  private async publish(source: AlertSource, lane: SourceLane, group: Group): Promise<void> {
    lane.inFlight++;
    const { message, id } = this.message(source, group);
    try {
      await this.messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived(source), message, { messageId: id, correlationId: id });
      this.observer?.published(group.waiting.length, group.alerts, true);
      for (const waiting of group.waiting) waiting.resolve();
    } catch (error) {
      this.observer?.published(group.waiting.length, group.alerts, false);
      for (const waiting of group.waiting) waiting.reject(error);
    } finally {
      lane.inFlight--;
      // A confirm frees a slot: what gathered meanwhile goes out now, not after its timer.
      const open = lane.groups.at(-1);
      if (open && !open.sealed && lane.inFlight === 0) {
        open.sealed = true;
        if (lane.timer) clearTimeout(lane.timer);
        lane.timer = null;
      }
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
