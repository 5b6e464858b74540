// The one esbuild setup for everything that runs from dist/: one ESM file for Node 24, the
// libraries inlined through the tsconfig path aliases, npm packages left to node_modules; and
// the admin console, one ESM file for the browser.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function bundle(entryPoint, outfile) {
  return build({
    entryPoints: [entryPoint],
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
}

/** The admin console's entry (apps/admin/src/console, TypeScript with the DOM types of its own tsconfig). */
export const CONSOLE_ENTRY = 'apps/admin/src/console/app.ts';

/**
 * The admin console as one browser script (served as /console.js). It imports only types from
 * libs/contracts, so nothing of zod is bundled. `outfile` given: written there with its source
 * map; not given: returned in memory with the map inline (the admin serving from source).
 */
export async function bundleConsole(outfile) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [CONSOLE_ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox114', 'safari16.4'],
    tsconfig: 'apps/admin/src/console/tsconfig.json',
    logLevel: 'warning',
    ...(outfile ? { outfile, sourcemap: true } : { outfile: 'console.js', sourcemap: 'inline', write: false }),
  });
  return outfile ? outfile : result.outputFiles[0].text;
}
