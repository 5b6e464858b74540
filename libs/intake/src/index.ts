export * from './coalescing-publisher';
export * from './intake';
