// Bundles one app (or all) into dist/apps/<app>/main.js with esbuild. Libraries are inlined
// through the tsconfig path aliases; npm packages stay external and load from node_modules.
import { bundle, bundleConsole, CONSOLE_ENTRY } from './bundle.mjs';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';

const apps = process.argv.slice(2).length ? process.argv.slice(2) : readdirSync('apps');

await Promise.all(apps.map((app) => bundle(`apps/${app}/src/main.ts`, `dist/apps/${app}/main.js`)));
// Static files an app serves (the admin console) sit beside its bundle, the console's script with them.
for (const app of apps) {
  // Copied afresh: a file removed from the sources does not linger in dist/.
  rmSync(`dist/apps/${app}/public`, { recursive: true, force: true });
  if (existsSync(`apps/${app}/src/public`)) cpSync(`apps/${app}/src/public`, `dist/apps/${app}/public`, { recursive: true });
  if (CONSOLE_ENTRY.startsWith(`apps/${app}/`)) await bundleConsole(`dist/apps/${app}/public/console.js`);
}
console.log(`built ${apps.map((app) => `dist/apps/${app}/main.js`).join(', ')}`);
