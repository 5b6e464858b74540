export * from './config';
export * from './logger';
export * from './readiness';
export * from './metrics';
export * from './health-routes';
export * from './health-server';
export * from './shutdown';
export * from './http-errors';
