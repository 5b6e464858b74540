// Bundles the migration command (`npm run db:migrate`, libs/db/src/cli/migrate.ts) into one
// file, so that a container runs `node dist/tools/migrate.js` without tsx or the TypeScript
// sources. Like the apps, npm packages (kysely, pg) stay external and load from node_modules.
// Usage: node tools/build/build-migrate.mjs [outfile]   (default dist/tools/migrate.js)
import { build } from 'esbuild';

const outfile = process.argv[2] ?? 'dist/tools/migrate.js';

await build({
  entryPoints: ['libs/db/src/cli/migrate.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  packages: 'external',
  sourcemap: true,
  tsconfig: 'tsconfig.base.json',
  logLevel: 'warning',
});
console.log(`built ${outfile}`);
