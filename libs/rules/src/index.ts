export * from './fingerprint';
export * from './normalize-alerts';
export * from './matching';
export * from './templates';
