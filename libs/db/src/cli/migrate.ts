import { migrateDatabase } from '../migrate';

/** `npm run db:migrate`: creates the database if missing and applies every pending migration. */
const url = process.env['DATABASE_URL'] || 'postgres://postgres@localhost:5432/sentryhub';
const { error, results } = await migrateDatabase(url);
for (const result of results ?? []) {
  console.log(`${result.status === 'Success' ? 'applied' : result.status.toLowerCase()}: ${result.migrationName}`);
}
if (error) {
  console.error('migration failed:', error instanceof Error ? error.message : error);
  process.exit(1);
}
if (!results?.length) console.log('database is up to date');
