import { describe, expect, it } from 'vitest';
import { budget as makeBudget } from './budget';

/** Lets every pending callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('budget', () => {
  it('admits messages while their changes fit, then holds the next ones, unprepared, in arrival order', async () => {
    const budget = makeBudget(10);
    const order: string[] = [];
    const take = (name: string, changes: number) => budget.acquire(changes).then((release) => (order.push(name), release));
    const a = take('a', 6);
    const b = take('b', 4);
    const c = take('c', 3);
    const d = take('d', 1);
    await settle();
    // a and b spend the 10; c waits, and d (1 change) waits behind c rather than overtake it.
    expect(order).toEqual(['a', 'b']);
    expect(budget.held).toBe(10);
    expect(budget.waiting).toEqual({ messages: 2, units: 4 });
    (await a)();
    await settle();
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect(budget.held).toBe(8);
    (await b)();
    (await c)();
    (await d)();
    expect(budget.held).toBe(0);
    expect(budget.waiting).toEqual({ messages: 0, units: 0 });
  });

  it('lets a message bigger than the budget go alone, and small ones wait behind it', async () => {
    const budget = makeBudget(10);
    const order: string[] = [];
    const take = (name: string, changes: number) => budget.acquire(changes).then((release) => (order.push(name), release));
    const small = take('small', 2);
    const big = take('big', 1_000);
    void take('later', 1);
    await settle();
    expect(order).toEqual(['small']);
    const releaseSmall = await small;
    releaseSmall();
    releaseSmall(); // giving back twice changes nothing
    await settle();
    expect(order).toEqual(['small', 'big']);
    expect(budget.held).toBe(1_000);
    (await big)();
    await settle();
    expect(order).toEqual(['small', 'big', 'later']);
    expect(budget.held).toBe(1);
  });
});
