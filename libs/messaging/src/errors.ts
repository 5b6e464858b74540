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
