/**
 * A bound on the changes the notifier holds at once (NOTIFIER_MAX_PENDING_CHANGES), whatever
 * the messages carry: an `alert.processed` message holds one change or a whole processor
 * batch, so a prefetch of messages alone bounds nothing. A message takes as many units as it
 * has changes before any of them is prepared (rule, silence, `notifications` row, a place in
 * its channel's pacer), and gives them back when it is handled. While the budget is spent,
 * messages wait in arrival order, unacked and unprepared; once the prefetch is reached the
 * broker stops delivering, so the backlog of a storm stays in RabbitMQ instead of in this
 * process. A message with more changes than the whole budget goes alone, once nothing else
 * is held.
 */
export interface ChangeBudget {
  /** Waits until `changes` fit, takes them, and resolves with the function that gives them back (once). */
  acquire(changes: number): Promise<() => void>;
  /** Changes taken by messages being handled. */
  readonly held: number;
  /** Messages waiting for the budget, and their changes. */
  readonly waiting: { messages: number; changes: number };
}

export function changeBudget(max: number): ChangeBudget {
  if (!Number.isInteger(max) || max < 1) throw new Error(`the change budget must be a positive integer, got ${max}`);
  let held = 0;
  const queue: { changes: number; grant: () => void }[] = [];

  const fits = (changes: number) => held === 0 || held + changes <= max;

  const take = (changes: number): (() => void) => {
    held += changes;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      held -= changes;
      // In arrival order: a big message is not overtaken for ever by small ones.
      while (queue[0] && fits(queue[0].changes)) {
        const next = queue.shift();
        next?.grant();
      }
    };
  };

  return {
    acquire: (changes) => {
      const units = Math.max(0, Math.floor(changes));
      if (queue.length === 0 && fits(units)) return Promise.resolve(take(units));
      return new Promise((resolve) => queue.push({ changes: units, grant: () => resolve(take(units)) }));
    },
    get held() {
      return held;
    },
    get waiting() {
      return { messages: queue.length, changes: queue.reduce((sum, entry) => sum + entry.changes, 0) };
    },
  };
}
