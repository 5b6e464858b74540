export * from './batch-store';
export * from './manual-resolve';
export * from './snapshot';
export * from './state-machine';
