import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  it('doubles from the base on each retry and stops at the cap', () => {
    const waits = [0, 1, 2, 3, 4, 5].map((retry) => backoffDelay(retry, { baseMs: 1_000, maxMs: 15_000 }));
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 15_000, 15_000]);
  });

  it('stays at the cap after any number of retries (no overflow to Infinity or NaN)', () => {
    expect(backoffDelay(5_000, { baseMs: 250, maxMs: 30_000 })).toBe(30_000);
  });

  it('with jitter, waits between half the step and the whole step', () => {
    const options = { baseMs: 1_000, maxMs: 15_000, jitter: true };
    expect(backoffDelay(2, options, () => 0)).toBe(2_000);
    expect(backoffDelay(2, options, () => 1)).toBe(4_000);
    expect(backoffDelay(2, options, () => 0.5)).toBe(3_000);
    expect(backoffDelay(10, options, () => 0)).toBe(7_500);
  });

  it('refuses a negative or fractional retry and a cap below the base, naming the problem', () => {
    expect(() => backoffDelay(-1, { baseMs: 1_000, maxMs: 2_000 })).toThrow(/retry must be a non-negative integer, got -1/);
    expect(() => backoffDelay(1.5, { baseMs: 1_000, maxMs: 2_000 })).toThrow(/non-negative integer/);
    expect(() => backoffDelay(0, { baseMs: 1_000, maxMs: 500 })).toThrow(/baseMs 1000, maxMs 500/);
  });
});
