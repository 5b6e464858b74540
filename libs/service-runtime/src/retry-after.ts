/** Used when a 429 carries no usable Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 1_000;
/** A Retry-After beyond this is treated as this: a worker never stalls for hours on one header. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** Retry-After in milliseconds: delta-seconds or an HTTP date (RFC 9110), bounded. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number {
  const raw = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!raw) return DEFAULT_RETRY_AFTER_MS;
  let delay: number;
  if (/^\d+(\.\d+)?$/.test(raw)) delay = Number(raw) * 1_000;
  else {
    const at = Date.parse(raw);
    if (Number.isNaN(at)) return DEFAULT_RETRY_AFTER_MS;
    delay = at - now;
  }
  return Math.min(Math.max(delay, 0), MAX_RETRY_AFTER_MS);
}

/** One endpoint's 429 handling: a 429 closes it until its Retry-After has passed, and every later call waits for that first. */
export interface RetryAfterGate {
  /** Resolves once the endpoint may be called again. */
  whenOpen(): Promise<void>;
  /** The endpoint answered 429 with this Retry-After: closed until it has passed (an earlier, longer one stays); the delay in ms. */
  rateLimited(retryAfter: string | string[] | undefined): number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function retryAfterGate(): RetryAfterGate {
  let blockedUntil = 0;
  return {
    whenOpen: async () => {
      for (let wait = blockedUntil - Date.now(); wait > 0; wait = blockedUntil - Date.now()) await sleep(wait);
    },
    rateLimited: (retryAfter) => {
      const delay = retryAfterMs(retryAfter);
      blockedUntil = Math.max(blockedUntil, Date.now() + delay);
      return delay;
    },
  };
}
