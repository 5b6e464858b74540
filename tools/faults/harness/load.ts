import { Pool } from 'undici';
import { FAULT_TEAM } from './stack';

const STARTS_AT = Date.parse('2026-11-26T06:00:00Z');

export const alertName = (index: number) => `FaultAlert${String(index).padStart(6, '0')}`;

/** One HTTP answer of the gateway: when, what status, for which alerts. */
export interface Answer {
  /** When the request was sent and when its answer came. */
  sentAt: number;
  at: number;
  status: number;
  alerts: number;
}

export interface LoadOptions {
  gatewayUrl: string;
  /** Alerts per webhook request. */
  perRequest: number;
  /** The alerts spread over this many Slack channels (label `channel`). */
  channels: number;
}

/**
 * Drives the gateway like Alertmanager: webhooks of `perRequest` unique firing alerts at a
 * steady rate, each alert numbered; it remembers every answer, so that a scenario can check
 * the database against exactly the alerts that got a 2xx. `resend` sends again, like
 * Alertmanager's retry, the alerts that never got a 2xx.
 */
export class AlertLoad {
  readonly answers: Answer[] = [];
  /** Alert index -> accepted (a 2xx for one of its requests). */
  private readonly accepted = new Set<number>();
  private next = 0;
  private pool: Pool;

  constructor(private readonly options: LoadOptions) {
    this.pool = AlertLoad.connect(options.gatewayUrl);
  }

  private static connect(gatewayUrl: string): Pool {
    return new Pool(gatewayUrl, { connections: 256, pipelining: 1 });
  }

  /** Sends from now on to another gateway (a restarted one listens on a new port). */
  async retarget(gatewayUrl: string): Promise<void> {
    const old = this.pool;
    this.pool = AlertLoad.connect(gatewayUrl);
    await old.close();
  }

  get sent(): number {
    return this.next;
  }

  acceptedIndexes(): number[] {
    return [...this.accepted].sort((a, b) => a - b);
  }

  /** Alerts sent that never got a 2xx. */
  rejectedIndexes(): number[] {
    return Array.from({ length: this.next }, (_, index) => index).filter((index) => !this.accepted.has(index));
  }

  /**
   * Sends `total` new alerts at `alertsPerSecond` and resolves once every request is answered.
   * Alerts are numbered from one counter, so two runs may overlap (a scenario probing the
   * gateway while its main load goes on).
   */
  async run(total: number, alertsPerSecond: number, onTick?: (sent: number) => void): Promise<void> {
    const began = Date.now();
    const requests: Promise<void>[] = [];
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - began) / 1000) * alertsPerSecond) + 1);
      while (sent < due) {
        const count = Math.min(due - sent, this.options.perRequest);
        requests.push(this.post(range(this.next, this.next + count)));
        this.next += count;
        sent += count;
      }
      onTick?.(sent);
      await sleep(10);
    }
    await Promise.all(requests);
  }

  /**
   * Sends again, `perRequest` at a time and at most `alertsPerSecond`, the alerts never
   * accepted, as Alertmanager retries: up to `rounds` times while some are still refused.
   */
  async resend(alertsPerSecond: number, rounds = 3): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      const rejected = this.rejectedIndexes();
      if (rejected.length === 0) return;
      const began = Date.now();
      const requests: Promise<void>[] = [];
      for (let offset = 0; offset < rejected.length; offset += this.options.perRequest) {
        const wait = began + (offset / alertsPerSecond) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
        requests.push(this.post(rejected.slice(offset, offset + this.options.perRequest)));
      }
      await Promise.all(requests);
    }
  }

  /** Statuses counted, `error` for a request that got no HTTP answer at all. */
  statusCounts(answers: readonly Answer[] = this.answers): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const answer of answers) counts[answer.status || 'error'] = (counts[answer.status || 'error'] ?? 0) + 1;
    return counts;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async post(indexes: number[]): Promise<void> {
    let status = 0;
    const sentAt = Date.now();
    try {
      const response = await this.pool.request({
        path: '/api/v1/webhooks/alertmanager',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(this.webhook(indexes)),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      status = response.statusCode;
      await response.body.dump();
    } catch {
      status = 0;
    }
    this.answers.push({ sentAt, at: Date.now(), status, alerts: indexes.length });
    if (status >= 200 && status < 300) for (const index of indexes) this.accepted.add(index);
  }

  private webhook(indexes: number[]) {
    return {
      version: '4',
      groupKey: `{}:{team="${FAULT_TEAM}"}:${indexes[0]}`,
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'sentryhub',
      groupLabels: { team: FAULT_TEAM },
      commonLabels: { team: FAULT_TEAM },
      commonAnnotations: {},
      externalURL: 'http://alertmanager:9093',
      alerts: indexes.map((index) => ({
        status: 'firing',
        labels: { alertname: alertName(index), team: FAULT_TEAM, severity: 'warning', channel: `#faults-${index % this.options.channels}` },
        annotations: { summary: `fault scenario alert ${index}` },
        // Fixed per alert: a resend is the same alert, which the processor stores once.
        startsAt: new Date(STARTS_AT + index * 1000).toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus/graph',
      })),
    };
  }
}

export const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, offset) => from + offset);
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
