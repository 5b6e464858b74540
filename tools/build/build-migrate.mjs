// Bundles the migration command (`npm run db:migrate`, libs/db/src/cli/migrate.ts) into one
// file, so that a container runs `node dist/tools/migrate.js` without tsx or the TypeScript
// sources. Like the apps, npm packages (kysely, pg) stay external and load from node_modules.
// Usage: node tools/build/build-migrate.mjs [outfile]   (default dist/tools/migrate.js)
import { bundle } from './bundle.mjs';

const outfile = process.argv[2] ?? 'dist/tools/migrate.js';

await bundle('libs/db/src/cli/migrate.ts', outfile);
console.log(`built ${outfile}`);
