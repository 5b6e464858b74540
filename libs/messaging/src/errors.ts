/** A failure that retrying cannot fix: the message is dead-lettered at once with this reason. */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly path = '',
  ) {
    super(message);
    this.name = 'PermanentError';
  }
}

/** A publish that the broker did not confirm: refused, returned unroutable, timed out or blocked. */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly reason: 'timeout' | 'returned' | 'blocked' | 'disconnected' | 'error',
  ) {
    super(message);
    this.name = 'PublishError';
  }
}

/**
 * A dependency (the database) is down: the work is retried every few seconds without using up
 * the message's retries, so that an outage never dead-letters good messages.
 */
export class DependencyUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DependencyUnavailableError';
  }
}
