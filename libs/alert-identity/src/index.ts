export * from './fingerprint';
export * from './normalize-alerts';
