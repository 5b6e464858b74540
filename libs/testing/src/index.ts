export * from './database';
export * from './vhost';
export * from './slack-mock';
export * from './fixtures';
export * from './alerts';
export * from './query-plans';
