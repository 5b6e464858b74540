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

/** The deployments of deploy/k8s: the base, and each overlay rendered over it. */
export const KUBERNETES_RENDERS = { base: join('deploy', 'k8s', 'base'), production: join('deploy', 'k8s', 'overlays', 'production') } as const;
export type KubernetesRender = keyof typeof KUBERNETES_RENDERS;

/** The app's own container in its Deployment, as rendered from deploy/k8s (base by default). */
function deployedContainer(app: string, render: KubernetesRender = 'base'): Record<string, unknown> | undefined {
  const deployment = renderKustomization(join(ROOT, KUBERNETES_RENDERS[render])).find((object) => object.kind === 'Deployment' && object.metadata.name === app);
  return deployment ? containersOf(deployment).find((candidate) => candidate['name'] === app) : undefined;
}

/**
 * The node flags an app runs with when deployed: its Deployment's NODE_OPTIONS in
 * deploy/k8s/base (which replaces the image's), else the image's.
 */
export function deployedNodeOptions(app: string): string[] {
  const container = deployedContainer(app);
  const env = Array.isArray(container?.['env']) ? (container['env'] as { name?: unknown; value?: unknown }[]) : [];
  const value = env.find((variable) => variable.name === 'NODE_OPTIONS')?.value;
  return typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : [...IMAGE_NODE_OPTIONS];
}

const QUANTITY_FACTORS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** A Kubernetes memory quantity (`256Mi`, `1G`, `1.5Gi`, `134217728`) in bytes; throws on anything else. */
export function memoryQuantityBytes(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity.trim());
  if (!match) throw new Error(`not a memory quantity: ${JSON.stringify(quantity)} (expected a number with Ki, Mi, Gi, Ti, k, M, G or T)`);
  return Number(match[1]) * (QUANTITY_FACTORS[match[2] ?? ''] as number);
}

/** The app container's memory limit in bytes in each render of deploy/k8s (null where it has none). */
export function deployedMemoryLimits(app: string): Record<KubernetesRender, number | null> {
  const limitIn = (render: KubernetesRender): number | null => {
    const resources = deployedContainer(app, render)?.['resources'] as { limits?: { memory?: string | number } } | undefined;
    const memory = resources?.limits?.memory;
    return memory === undefined ? null : memoryQuantityBytes(memory);
  };
  return { base: limitIn('base'), production: limitIn('production') };
}
