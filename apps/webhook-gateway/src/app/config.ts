import { DEFAULT_INTAKE_MAX_FUTURE, DEFAULT_RESOLVE_TIMEOUT, DurationEnv } from '@sentryhub/contracts';
import { DEFAULT_COALESCING } from '@sentryhub/intake';
import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

const MIB = 1024 * 1024;

/** `true` or `false`, nothing else: a typo must not silently open or close intake. */
const booleanEnv = (fallback: boolean) =>
  z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true');

export const GatewayConfig = z.object({
  ...sharedEnv,
  PORT: portEnv(8080),
  HOST: z.string().default('0.0.0.0'),
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  /** How far after its receipt an alert's startsAt or endsAt may be (`30s`, `10m`, `1h`): later ones are refused. In ms. */
  INTAKE_MAX_FUTURE: DurationEnv(DEFAULT_INTAKE_MAX_FUTURE),
  /** The lease of an alert posted to `/api/v2/alerts` without endsAt (Alertmanager's `resolve_timeout`): it expires this long after its last receipt. In ms. */
  RESOLVE_TIMEOUT: DurationEnv(DEFAULT_RESOLVE_TIMEOUT).refine((ms) => ms > 0, 'must be a duration above 0 (such as 5m)'),
  /** Group commit: at most this many alerts per coalesced `AlertReceived` (a bigger request travels alone). */
  GATEWAY_COALESCE_MAX_ALERTS: z.coerce.number().int().positive().default(2_000),
  /** ...and at most this many bytes of JSON per message: a bigger request is split over several messages. */
  GATEWAY_COALESCE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024, 'must be at least 65536 (64 KiB)')
    .default(4 * MIB),
  /** How long a group waits for more requests while a publish slot is free; 0: to the end of the event-loop turn. */
  GATEWAY_COALESCE_MAX_WAIT_MS: z.coerce.number().min(0).default(DEFAULT_COALESCING.maxWaitMs),
  /** Unconfirmed coalesced publishes per source; while all are in flight, requests gather. */
  GATEWAY_COALESCE_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(16),
  /** Requests waiting for a publish slot (all sources); past it intake answers 503 with Retry-After. */
  GATEWAY_MAX_WAITING_REQUESTS: z.coerce.number().int().positive().default(10_000),
  /** Bytes of alerts waiting for a publish slot (all sources); past it intake answers 503 with Retry-After. */
  GATEWAY_MAX_WAITING_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(16 * MIB),
  /** Comma-separated; every intake request must carry one of them (see WEBHOOK_ALLOW_ANONYMOUS). */
  WEBHOOK_TOKENS: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((token) => token.trim())
        .filter(Boolean),
    ),
  /** `true`: without WEBHOOK_TOKENS, intake takes requests from anyone who reaches the port. Never the default. */
  WEBHOOK_ALLOW_ANONYMOUS: booleanEnv(false),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;

/**
 * Open intake is a decision: without WEBHOOK_TOKENS the gateway does not start unless
 * WEBHOOK_ALLOW_ANONYMOUS=true. Returns the one-line reason it refuses, or null.
 */
export function intakeAuthProblem(config: Pick<GatewayConfig, 'WEBHOOK_TOKENS' | 'WEBHOOK_ALLOW_ANONYMOUS'>): string | null {
  if (config.WEBHOOK_TOKENS.length > 0 || config.WEBHOOK_ALLOW_ANONYMOUS) return null;
  return 'WEBHOOK_TOKENS is not set: set WEBHOOK_TOKENS (comma-separated tokens that intake requests must carry), or WEBHOOK_ALLOW_ANONYMOUS=true to accept intake from anyone who can reach the port';
}
