import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { EXCHANGES, ROUTING_KEYS, type AlertSource, type NormalizedAlert } from '@sentryhub/contracts';
import type { Messaging } from '@sentryhub/messaging';

const MIB = 1024 * 1024;

/** Group commit: concurrent requests share one confirmed publish, within bounds. */
export interface CoalescingOptions {
  /** At most this many alerts per group; a bigger request travels alone. */
  maxAlerts: number;
  /**
   * How long a group waits for more requests while a publish slot is free. 0: until the end of
   * the current event-loop turn, so that every request parsed in that turn shares the publish.
   * 3 ms by default: at a steady 200 requests/s a publish of each request alone cost every
   * service (gateway, RabbitMQ, processor) more than the wait costs in latency.
   */
  maxWaitMs: number;
  /** Unconfirmed publishes per source; while all are in flight, requests gather. */
  maxInFlight: number;
  /** At most this many bytes per message (its JSON body); a bigger request is split over several messages. 4 MiB by default. */
  maxBytes?: number;
  /** Requests (message parts) waiting for a publish slot, all sources together; past it `submit` rejects with IntakeBusyError. */
  maxWaitingRequests?: number;
  /** Their alerts' bytes; past it `submit` rejects with IntakeBusyError. */
  maxWaitingBytes?: number;
}

export const DEFAULT_COALESCING: Required<CoalescingOptions> = {
  maxAlerts: 2_000,
  maxWaitMs: 3,
  maxInFlight: 16,
  maxBytes: 4 * MIB,
  maxWaitingRequests: 10_000,
  maxWaitingBytes: 16 * MIB,
};

/**
 * Room kept in every message for what is not a request's own: the message's id, receivedAt,
 * source and the JSON punctuation around the coalesced metas and the alerts (about 130 bytes),
 * and the `:<n>` suffix of a split request's part id.
 */
const MESSAGE_OVERHEAD_BYTES = 256;

/** Too many requests wait for a publish slot: answer 503 with Retry-After, the sender retries. */
export class IntakeBusyError extends Error {
  readonly statusCode = 503;
  constructor(message: string) {
    super(message);
    this.name = 'IntakeBusyError';
  }
}

/** One alert of the request (or its metadata) cannot fit in a message of `maxBytes`: 413. */
export class MessageTooLargeError extends Error {
  readonly statusCode = 413;
  constructor(message: string) {
    super(message);
    this.name = 'MessageTooLargeError';
  }
}

/** One intake request's part of a group. */
export interface IntakeSubmission {
  /** The request (= correlation) id. */
  id: string;
  receivedAt: Date;
  meta: Record<string, unknown>;
  alerts: NormalizedAlert[];
}

/** A request, or one message's share of a request too big for one message, serialised once. */
interface Part {
  /** Its message id when it travels alone: the request id, `<request id>:<n>` for the parts of a split request. */
  id: string;
  /** The request id. */
  correlationId: string;
  receivedAt: Date;
  metaJson: string;
  /** Each alert's JSON. */
  alerts: string[];
  /** What it adds to a coalesced message: its alerts and its entry in `meta.coalesced`. */
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Group {
  parts: Part[];
  alerts: number;
  bytes: number;
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
   * `inFlight` the source's unconfirmed publishes when it started, itself included, `bytes` the
   * message body's size.
   */
  published(requests: number, alerts: number, ok: boolean, timing: { seconds: number; inFlight: number; bytes: number }): void;
}

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * Coalesces concurrent intake requests of one source into one confirmed `AlertReceived`
 * (group commit). `submit` resolves only after RabbitMQ confirmed the message(s) carrying the
 * request's alerts and rejects with the publish error when one was not confirmed: every
 * request of a failed group gets the same error.
 *
 * When a group goes out:
 * - at once when it reaches `maxAlerts`;
 * - while fewer than `maxInFlight` publishes of the source are unconfirmed: at the end of the
 *   event-loop turn in which its first request arrived (`maxWaitMs` 0), or `maxWaitMs` later;
 * - while all `maxInFlight` are unconfirmed, it keeps gathering requests and goes the moment
 *   one of them is confirmed (or failed).
 * So at low load a request waits `maxWaitMs` and its own confirm, and under load the slots stay
 * busy with groups that grow as the broker slows down.
 *
 * Bounds: no message body is larger than `maxBytes`. A request that does not fit in the open
 * group starts the next one; a request that alone is larger is split over several messages
 * (parts `<request id>:1`, `:2`, ...) and is answered once all of them are confirmed; a single
 * alert that cannot fit is refused (MessageTooLargeError). Past `maxWaitingRequests` requests
 * or `maxWaitingBytes` bytes waiting for a slot, `submit` refuses at once (IntakeBusyError).
 *
 * A group of one request is the message the gateway always sent (id, correlation id and meta
 * of the request). A larger one gets its own id, the earliest `receivedAt`, and
 * `meta.coalesced` = the requests' ids and metas; each alert carries its request's
 * `correlationId` either way. Each alert is serialised once, when submitted; the message body
 * is put together from those pieces.
 */
export class CoalescingPublisher {
  private readonly lanes = new Map<AlertSource, SourceLane>();
  private readonly options: Required<CoalescingOptions>;
  /** Parts in groups that are not published yet, and their bytes. */
  private waitingParts = 0;
  private waitingBytes = 0;

  constructor(
    private readonly messaging: Pick<Messaging, 'publish'>,
    options: CoalescingOptions = DEFAULT_COALESCING,
    private readonly observer?: CoalescingObserver,
  ) {
    this.options = { ...DEFAULT_COALESCING, ...options };
    if (this.options.maxBytes <= MESSAGE_OVERHEAD_BYTES * 4) throw new Error(`maxBytes must be above ${MESSAGE_OVERHEAD_BYTES * 4}`);
  }

  submit(source: AlertSource, submission: IntakeSubmission): Promise<void> {
    const { maxWaitingRequests, maxWaitingBytes } = this.options;
    if (this.waitingParts >= maxWaitingRequests) {
      return Promise.reject(
        new IntakeBusyError(`${this.waitingParts} requests already wait for a publish slot (GATEWAY_MAX_WAITING_REQUESTS=${maxWaitingRequests})`),
      );
    }
    let parts: Omit<Part, 'resolve' | 'reject'>[];
    try {
      parts = this.split(submission);
    } catch (error) {
      return Promise.reject(error);
    }
    const bytes = parts.reduce((sum, part) => sum + part.bytes, 0);
    if (this.waitingBytes > 0 && this.waitingBytes + bytes > maxWaitingBytes) {
      return Promise.reject(
        new IntakeBusyError(`${this.waitingBytes} bytes of alerts already wait for a publish slot (GATEWAY_MAX_WAITING_BYTES=${maxWaitingBytes})`),
      );
    }
    const lane = this.lane(source);
    const confirmed = parts.map((part) => new Promise<void>((resolve, reject) => this.enqueue(source, lane, { ...part, resolve, reject })));
    return confirmed.length === 1 ? (confirmed[0] as Promise<void>) : Promise.all(confirmed).then(() => undefined);
  }

  /** Requests waiting for a publish (queued or unconfirmed) of any source. */
  get pending(): number {
    let count = 0;
    for (const lane of this.lanes.values()) count += lane.inFlight + lane.groups.length;
    return count;
  }

  /** Requests (message parts) queued for a publish slot, and their bytes. */
  get waiting(): { requests: number; bytes: number } {
    return { requests: this.waitingParts, bytes: this.waitingBytes };
  }

  /** The largest alert bytes one message takes beside a request's own entry. */
  private get alertBudget(): number {
    return this.options.maxBytes - MESSAGE_OVERHEAD_BYTES;
  }

  /** Serialises the request's alerts once and cuts them into parts that each fit in a message. */
  private split(submission: IntakeSubmission): Omit<Part, 'resolve' | 'reject'>[] {
    for (const alert of submission.alerts) alert.correlationId = submission.id;
    const metaJson = JSON.stringify(submission.meta);
    // Its entry of meta.coalesced: {"correlationId":<id>,"meta":<meta>} and a comma.
    const entryBytes = 28 + byteLength(JSON.stringify(submission.id)) + byteLength(metaJson);
    const budget = this.alertBudget - entryBytes;
    if (budget <= 0)
      throw new MessageTooLargeError(
        `the request's metadata alone is ${entryBytes} bytes of JSON; a message holds at most ${this.options.maxBytes} (GATEWAY_COALESCE_MAX_BYTES)`,
      );
    const chunks: { alerts: string[]; bytes: number }[] = [];
    let chunk: { alerts: string[]; bytes: number } = { alerts: [], bytes: 0 };
    submission.alerts.forEach((alert, index) => {
      const json = JSON.stringify(alert);
      const size = byteLength(json) + 1;
      if (size > budget)
        throw new MessageTooLargeError(
          `alert ${index} is ${size - 1} bytes of JSON; a message holds at most ${this.options.maxBytes} (GATEWAY_COALESCE_MAX_BYTES)`,
        );
      if (chunk.alerts.length > 0 && chunk.bytes + size > budget) {
        chunks.push(chunk);
        chunk = { alerts: [], bytes: 0 };
      }
      chunk.alerts.push(json);
      chunk.bytes += size;
    });
    chunks.push(chunk);
    return chunks.map((part, index) => ({
      id: chunks.length === 1 ? submission.id : `${submission.id}:${index + 1}`,
      correlationId: submission.id,
      receivedAt: submission.receivedAt,
      metaJson,
      alerts: part.alerts,
      bytes: entryBytes + part.bytes,
    }));
  }

  private enqueue(source: AlertSource, lane: SourceLane, part: Part): void {
    const { maxAlerts } = this.options;
    let group = lane.groups.at(-1);
    const full = (open: Group) => open.parts.length > 0 && (open.alerts + part.alerts.length > maxAlerts || open.bytes + part.bytes > this.alertBudget);
    if (!group || group.sealed || full(group)) {
      if (group) group.sealed = true;
      group = { parts: [], alerts: 0, bytes: 0, sealed: false, due: false };
      lane.groups.push(group);
    }
    group.parts.push(part);
    group.alerts += part.alerts.length;
    group.bytes += part.bytes;
    this.waitingParts += 1;
    this.waitingBytes += part.bytes;
    if (group.alerts >= maxAlerts) group.sealed = true;
    else this.scheduleFlush(source, lane);
    this.pump(source, lane);
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
      this.waitingParts -= first.parts.length;
      this.waitingBytes -= first.bytes;
      void this.publish(source, lane, first);
    }
  }

  private async publish(source: AlertSource, lane: SourceLane, group: Group): Promise<void> {
    lane.inFlight++;
    const inFlight = lane.inFlight;
    const started = performance.now();
    const { body, id, correlationId } = this.message(source, group);
    const timing = () => ({ seconds: (performance.now() - started) / 1000, inFlight, bytes: body.length });
    try {
      await this.messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived(source), body, { messageId: id, correlationId });
      this.observer?.published(group.parts.length, group.alerts, true, timing());
      for (const part of group.parts) part.resolve();
    } catch (error) {
      this.observer?.published(group.parts.length, group.alerts, false, timing());
      for (const part of group.parts) part.reject(error);
    } finally {
      lane.inFlight--;
      this.pump(source, lane);
    }
  }

  /** The `AlertReceived` body, put together from the pieces serialised on submit. */
  private message(source: AlertSource, group: Group): { body: Buffer; id: string; correlationId: string } {
    const [only] = group.parts;
    if (only && group.parts.length === 1) {
      const body = `{"id":${JSON.stringify(only.id)},"receivedAt":"${only.receivedAt.toISOString()}","source":"${source}","meta":${only.metaJson},"alerts":[${only.alerts.join(',')}]}`;
      return { id: only.id, correlationId: only.correlationId, body: Buffer.from(body) };
    }
    const id = randomUUID();
    let receivedAt = Number.POSITIVE_INFINITY;
    const alerts: string[] = [];
    const coalesced: string[] = [];
    for (const part of group.parts) {
      receivedAt = Math.min(receivedAt, part.receivedAt.getTime());
      for (const alert of part.alerts) alerts.push(alert);
      coalesced.push(`{"correlationId":${JSON.stringify(part.correlationId)},"meta":${part.metaJson}}`);
    }
    const body = `{"id":"${id}","receivedAt":"${new Date(receivedAt).toISOString()}","source":"${source}","meta":{"coalesced":[${coalesced.join(',')}]},"alerts":[${alerts.join(',')}]}`;
    return { id, correlationId: id, body: Buffer.from(body) };
  }
}
