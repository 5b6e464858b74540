export * from './batch-store';
export * from './lease-renewal';
export * from './manual-resolve';
export * from './snapshot';
export * from './state-machine';
