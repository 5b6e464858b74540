export * from './schema';
export * from './create-db';
export * from './migrate';
export * from './database-health';
export * from './errors';
export * from './housekeeping';
export * from './repositories/silences';
export * from './repositories/rules';
