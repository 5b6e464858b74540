export * from './fingerprint';
export * from './normalize-alerts';
export * from './matching';
export * from './templates';
export * from './silences';
export * from './group-attributes';
