import { parseIntakeAlerts, toErrorIssues, type AlertSource, type ErrorResponse, type IntakeShape, type RejectedAlert } from '@sentryhub/contracts';
import { PublishError } from '@sentryhub/messaging';
import { normalizeIntakeAlerts, SENDER_LEASE_ONLY } from '@sentryhub/alert-identity';
import { Counter, type Registry } from '@sentryhub/service-runtime';
import type { FastifyBaseLogger } from 'fastify';
import { IntakeBusyError, MessageTooLargeError, type CoalescingPublisher } from './coalescing-publisher';

/** What a sender is told to wait before retrying a request that was not accepted (503). */
export const RETRY_AFTER_SECONDS = 5;

/** At most this many issues in a 400 that refuses every alert of a request. */
const MAX_ISSUES = 100;

/** Intake counters of one service. */
export interface IntakeMetrics {
  acceptedAlerts: Counter<'source'>;
  rejectedRequests: Counter<'reason'>;
  /** Alerts refused on their own at intake, by source and the bound they broke (never their content). */
  rejectedAlerts: Counter<'source' | 'reason'>;
}

/**
 * The intake counters, `sentryhub_<service>_alerts_accepted_total`,
 * `sentryhub_<service>_requests_rejected_total` and `sentryhub_<service>_alerts_rejected_total`.
 */
export function intakeMetrics(registry: Registry, service: string): IntakeMetrics {
  return {
    acceptedAlerts: new Counter({
      name: `sentryhub_${service}_alerts_accepted_total`,
      help: 'Alerts accepted (published and confirmed), by intake source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    rejectedRequests: new Counter({
      name: `sentryhub_${service}_requests_rejected_total`,
      help: 'Intake requests answered 503: the broker did not confirm (broker_<reason>), or too many requests waited for a publish slot (busy)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rejectedAlerts: new Counter({
      name: `sentryhub_${service}_alerts_rejected_total`,
      help: 'Alerts refused on their own at intake (an intake bound broken), by source and bound',
      labelNames: ['source', 'reason'] as const,
      registers: [registry],
    }),
  };
}

export interface IntakeOptions extends IntakeMetrics {
  /** Publishes with confirm, coalescing concurrent requests (group commit). */
  publisher: CoalescingPublisher;
  /** How far after the receipt an alert's startsAt or endsAt may be (INTAKE_MAX_FUTURE), in milliseconds. */
  maxFutureMs: number;
  /** RESOLVE_TIMEOUT in milliseconds: the lease of an alert posted to `/api/v2/alerts` without endsAt. */
  resolveTimeoutMs: number;
}

/** An alert refused on its own, as the 2xx answer lists it. */
export interface RefusedAlert {
  index: number;
  reason: string;
  bound: RejectedAlert['refusal'];
}

/** How one intake request ended; each service turns it into its HTTP answer. */
export type IntakeOutcome =
  /** Published and confirmed by RabbitMQ; `rejected` lists the alerts refused on their own. */
  | { kind: 'accepted'; accepted: number; id: string; rejected?: RefusedAlert[] }
  /** Nothing usable (the body, or every alert): nothing published. */
  | { kind: 'invalid'; error: string; issues: NonNullable<ErrorResponse['issues']> }
  /** One alert bigger than a message: retrying cannot help. */
  | { kind: 'too-large'; error: string }
  /** Not confirmed (broker down, timeout, nack) or too many requests waiting: retry after `retryAfterSeconds`. */
  | { kind: 'unavailable'; error: string; retryAfterSeconds: number };

/** The request as intake needs it: its id (the correlation id), its parsed body and its logger. */
export interface IntakeRequest {
  id: string;
  body: unknown;
  log: FastifyBaseLogger;
}

export type Intake = (request: IntakeRequest, shape: IntakeShape, source: AlertSource) => Promise<IntakeOutcome>;

/**
 * The intake of SentryHub's HTTP services (the gateway's routes and the admin's
 * `POST /api/v2/alerts`): judge the body alert by alert (an alert that breaks an intake bound is
 * refused alone; when every alert is refused the request is invalid and nothing is published),
 * normalise with Alertmanager's leases, publish `alert.received.<source>` and wait for RabbitMQ's
 * confirm. `accepted` is returned only after the confirm of the message carrying the alerts.
 */
export function createIntake(options: IntakeOptions): Intake {
  const { publisher, acceptedAlerts, rejectedRequests, rejectedAlerts, maxFutureMs, resolveTimeoutMs } = options;

  const countRejected = (source: AlertSource, rejected: readonly RejectedAlert[]) => {
    for (const alert of rejected) rejectedAlerts.inc({ source, reason: alert.refusal });
  };

  return async function intake(request, shape, source) {
    const receivedAt = new Date();
    const parsed = parseIntakeAlerts(shape, request.body, { receivedAt, maxFutureMs });
    countRejected(source, parsed.rejected);
    if (!parsed.success) {
      const issues = toErrorIssues(parsed.error).slice(0, MAX_ISSUES);
      const [first] = issues;
      const what = parsed.rejected.length > 0 ? `no alert accepted (${parsed.rejected.length} refused)` : 'invalid body';
      request.log.info({ refused: parsed.rejected.length, bounds: [...new Set(parsed.rejected.map((alert) => alert.refusal))] }, 'intake request refused');
      return { kind: 'invalid', error: `${what}: ${first?.path || '(root)'}: ${first?.message ?? 'invalid'}`, issues };
    }
    // Alertmanager's leases: on API v2 an alert without endsAt expires RESOLVE_TIMEOUT after its
    // receipt; elsewhere only a sender's future endsAt is a lease (a webhook never has one).
    const { alerts, meta } = normalizeIntakeAlerts(parsed.data, receivedAt, shape === 'alerts' ? { resolveTimeoutMs } : SENDER_LEASE_ONLY);
    try {
      await publisher.submit(source, { id: request.id, receivedAt, meta, alerts });
    } catch (error) {
      // One alert bigger than a message (GATEWAY_COALESCE_MAX_BYTES): retrying cannot help.
      if (error instanceof MessageTooLargeError) return { kind: 'too-large', error: error.message };
      const reason = error instanceof IntakeBusyError ? 'busy' : `broker_${error instanceof PublishError ? error.reason : 'error'}`;
      rejectedRequests.inc({ reason });
      if (error instanceof IntakeBusyError)
        request.log.warn({ alerts: alerts.length, reason: error.message }, 'too many requests wait for a publish slot; answering 503');
      else request.log.error({ err: error, alerts: alerts.length }, 'publish not confirmed; answering 503');
      return {
        kind: 'unavailable',
        error: `alerts not accepted: ${error instanceof Error ? error.message : 'broker unavailable'}; retry later`,
        retryAfterSeconds: RETRY_AFTER_SECONDS,
      };
    }
    acceptedAlerts.inc({ source }, alerts.length);
    if (parsed.rejected.length === 0) {
      request.log.debug({ alerts: alerts.length, source }, 'alerts accepted');
      return { kind: 'accepted', accepted: alerts.length, id: request.id };
    }
    request.log.info(
      { alerts: alerts.length, refused: parsed.rejected.map(({ index, refusal }) => ({ index, bound: refusal })), source },
      'alerts accepted, some refused',
    );
    return {
      kind: 'accepted',
      accepted: alerts.length,
      id: request.id,
      rejected: parsed.rejected.map(({ index, reason, refusal }) => ({ index, reason, bound: refusal })),
    };
  };
}

/**
 * For a route whose body is judged by the intake, alert by alert, instead of by the route's
 * schema (which would refuse the whole request for one bad alert): the schema stays on the route
 * for the OpenAPI document, this validator lets every body through.
 */
export const judgedByIntake = () => (data: unknown) => ({ value: data });
