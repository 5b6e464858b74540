/**
 * A bound on what a consumer holds at once, in units that each message takes and gives back
 * when it is settled: bytes of parsed messages (the subscriber's `maxParsedBytes`), or the
 * changes a notifier holds prepared (the slack-notifier's NOTIFIER_MAX_PENDING_CHANGES). While
 * the budget is spent, messages wait in arrival order, unacked; once the prefetch is reached
 * the broker stops delivering, so the backlog of a storm stays in RabbitMQ instead of in the
 * process. A message bigger than the whole budget goes alone, once nothing else is held.
 */
export interface Budget {
  /** Waits until `units` fit, takes them, and resolves with the function that gives them back (once). */
  acquire(units: number): Promise<() => void>;
  /** Units taken by messages being handled. */
  readonly held: number;
  /** Messages waiting for the budget, and their units. */
  readonly waiting: { messages: number; units: number };
}

export function budget(max: number): Budget {
  if (!Number.isInteger(max) || max < 1) throw new Error(`a budget must be a positive integer, got ${max}`);
  let held = 0;
  const queue: { units: number; grant: () => void }[] = [];

  const fits = (units: number) => held === 0 || held + units <= max;

  const take = (units: number): (() => void) => {
    held += units;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      held -= units;
      // In arrival order: a big message is not overtaken for ever by small ones.
      while (queue[0] && fits(queue[0].units)) {
        const next = queue.shift();
        next?.grant();
      }
    };
  };

  return {
    acquire: (wanted) => {
      const units = Math.max(0, Math.floor(wanted));
      if (queue.length === 0 && fits(units)) return Promise.resolve(take(units));
      return new Promise((resolve) => queue.push({ units, grant: () => resolve(take(units)) }));
    },
    get held() {
      return held;
    },
    get waiting() {
      return { messages: queue.length, units: queue.reduce((sum, entry) => sum + entry.units, 0) };
    },
  };
}
