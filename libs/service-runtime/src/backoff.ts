/** Exponential back-off: the one rule every retry loop of SentryHub waits by. */
export interface BackoffOptions {
  /** The wait before the first retry. */
  baseMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /**
   * Spread the waits of many clients retrying together (a broker restart drops every
   * connection at once): each wait is a random point in the upper half of its step.
   */
  jitter?: boolean;
}

/**
 * The wait before retry `retry` (0 for the first retry): `baseMs`, doubling each retry, at most
 * `maxMs`; with `jitter`, between half of that and all of it. `random` is for tests.
 */
export function backoffDelay(retry: number, { baseMs, maxMs, jitter = false }: BackoffOptions, random: () => number = Math.random): number {
  if (!Number.isInteger(retry) || retry < 0) throw new RangeError(`back-off retry must be a non-negative integer, got ${retry}`);
  if (!(baseMs >= 0) || !(maxMs >= baseMs)) throw new RangeError(`back-off needs 0 <= baseMs <= maxMs, got baseMs ${baseMs}, maxMs ${maxMs}`);
  // 2 ** 1100 is Infinity, which Math.min clamps: no overflow however long the outage.
  const step = Math.min(baseMs * 2 ** retry, maxMs);
  return jitter ? Math.round(step / 2 + random() * (step / 2)) : step;
}
