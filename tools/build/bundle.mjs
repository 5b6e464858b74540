// The one esbuild setup for everything that runs from dist/: one ESM file for Node 24, the
// libraries inlined through the tsconfig path aliases, npm packages left to node_modules.
import { build } from 'esbuild';

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
