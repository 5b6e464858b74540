export * from './topology';
export * from './errors';
export * from './broker';
export * from './subscriber';
export * from './worker';
export * from './metrics';
export * from './raw-connection';
export * from './budget';
