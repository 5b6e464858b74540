export * from './topology';
export * from './alertmanager';
export * from './alert-received';
export * from './alert-processed';
export * from './audit-event';
export * from './http';
export * from './rules';
export * from './silence';
