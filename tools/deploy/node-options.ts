import { join } from 'node:path';
import { ROOT } from './app-contracts';
import { containersOf, renderKustomization } from './kustomize';

/**
 * The V8 flags the image gives every app (docker/Dockerfile, `ENV NODE_OPTIONS`). A semi-space
 * of 16 MB instead of V8's default for a large heap (32 MB on a 64-bit machine with a few GB of
 * memory) keeps the young generation at 48 MB: in `npm run bench` it took about 80-100 MB off
 * every service's peak RSS and CPU per alert went down, not up (docs/performance.md).
 */
export const IMAGE_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=16'];

/**
 * The node flags an app runs with when deployed: its Deployment's NODE_OPTIONS in
 * deploy/k8s/base (which replaces the image's), else the image's.
 */
export function deployedNodeOptions(app: string): string[] {
  const deployment = renderKustomization(join(ROOT, 'deploy', 'k8s', 'base')).find((object) => object.kind === 'Deployment' && object.metadata.name === app);
  const container = deployment ? containersOf(deployment).find((candidate) => candidate['name'] === app) : undefined;
  const env = Array.isArray(container?.['env']) ? (container['env'] as { name?: unknown; value?: unknown }[]) : [];
  const value = env.find((variable) => variable.name === 'NODE_OPTIONS')?.value;
  return typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : [...IMAGE_NODE_OPTIONS];
}
