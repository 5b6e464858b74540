import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { ROOT } from './app-contracts';

/** A Kubernetes object as parsed from YAML; only the type meta is known for sure. */
export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

const TypeMeta = z
  .object({
    apiVersion: z.string().min(1),
    kind: z.string().min(1),
    metadata: z.object({ name: z.string().min(1), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() }).loose(),
  })
  .loose();

/**
 * The part of kustomize that these manifests use; anything else in a kustomization.yaml is
 * refused here, so that the fallback renderer below never silently ignores a feature.
 */
export const Kustomization = z
  .object({
    apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
    kind: z.literal('Kustomization'),
    namespace: z.string().optional(),
    resources: z.array(z.string()).min(1),
    labels: z
      .array(z.object({ pairs: z.record(z.string(), z.string()), includeSelectors: z.literal(false), includeTemplates: z.boolean().optional() }).strict())
      .optional(),
    images: z.array(z.object({ name: z.string(), newName: z.string().optional(), newTag: z.string().optional() }).strict()).optional(),
    replicas: z.array(z.object({ name: z.string(), count: z.number().int().min(0) }).strict()).optional(),
    patches: z
      .array(
        z
          .object({
            path: z.string(),
            target: z.object({ kind: z.string().optional(), name: z.string().optional(), labelSelector: z.string().optional() }).strict().optional(),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();
export type Kustomization = z.infer<typeof Kustomization>;

/** Every document of a YAML file (empty documents skipped); a syntax error throws with the file name. */
export function readYamlDocuments(file: string): unknown[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  const values: unknown[] = [];
  for (const document of documents) {
    if (document.errors.length > 0) throw new Error(`${relative(ROOT, file)}: ${document.errors.map((error) => error.message).join('; ')}`);
    const value: unknown = document.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

export function asK8sObject(value: unknown, where: string): K8sObject {
  const parsed = TypeMeta.safeParse(value);
  if (!parsed.success)
    throw new Error(`${where}: not a Kubernetes object: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return parsed.data as K8sObject;
}

export function readKustomization(dir: string): Kustomization {
  const [document, ...rest] = readYamlDocuments(join(dir, 'kustomization.yaml'));
  if (rest.length > 0) throw new Error(`${relative(ROOT, dir)}/kustomization.yaml: one document expected`);
  return Kustomization.parse(document);
}

/** Every file a kustomization (and the ones it includes) reads: resources and patches. */
export function kustomizationFiles(dir: string): string[] {
  const kustomization = readKustomization(dir);
  const files = [join(dir, 'kustomization.yaml')];
  for (const entry of kustomization.resources) {
    const path = resolve(dir, entry);
    files.push(...(statSync(path).isDirectory() ? kustomizationFiles(path) : [path]));
  }
  for (const patch of kustomization.patches ?? []) files.push(resolve(dir, patch.path));
  return files;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Strategic merge as these patches need it: maps merge, lists of named items merge by name, other lists are replaced. */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isRecord(base) && isRecord(patch)) {
    const merged: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete merged[key];
      else merged[key] = key in base ? strategicMerge(base[key], value) : value;
    }
    return merged;
  }
  if (Array.isArray(base) && Array.isArray(patch) && patch.every((item) => isRecord(item) && typeof item['name'] === 'string')) {
    // As kustomize merges a list keyed by name: the patch's items first (merged into the base's
    // item of the same name), then the base's other items in their order.
    const named = (list: unknown[], name: unknown) => list.find((item) => isRecord(item) && item['name'] === name);
    const merged = patch.map((item: Record<string, unknown>) => {
      const existing = named(base, item['name']);
      return existing === undefined ? item : strategicMerge(existing, item);
    });
    return [...merged, ...base.filter((item) => !(isRecord(item) && named(patch, item['name']) !== undefined))];
  }
  return patch;
}

function matchesSelector(object: K8sObject, selector: string): boolean {
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return key !== undefined && object.metadata.labels?.[key.trim()] === value?.trim();
  });
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'CustomResourceDefinition']);

function podTemplate(object: Record<string, unknown>): Record<string, unknown> | undefined {
  const spec = object['spec'];
  const template = isRecord(spec) ? spec['template'] : undefined;
  return isRecord(template) ? template : undefined;
}

export function containersOf(object: Record<string, unknown>): Record<string, unknown>[] {
  const template = podTemplate(object);
  const spec = template ? template['spec'] : undefined;
  if (!isRecord(spec)) return [];
  return ['initContainers', 'containers'].flatMap((key) => {
    const list = spec[key];
    return Array.isArray(list) ? list.filter(isRecord) : [];
  });
}

/**
 * Renders a kustomization with the subset of kustomize these manifests use (see
 * `Kustomization`). Used where kubectl is missing; where it exists the tests check that this
 * gives exactly what `kubectl kustomize` gives.
 */
export function renderKustomization(dir: string): K8sObject[] {
  const kustomization = readKustomization(dir);
  let objects: K8sObject[] = kustomization.resources.flatMap((entry) => {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) return renderKustomization(path);
    return readYamlDocuments(path).map((value, index) => asK8sObject(value, `${relative(ROOT, path)}#${index}`));
  });
  const clone = (object: K8sObject): K8sObject => structuredClone(object);
  objects = objects.map(clone);

  for (const patch of kustomization.patches ?? []) {
    const patchFile = resolve(dir, patch.path);
    for (const [index, value] of readYamlDocuments(patchFile).entries()) {
      const body = asK8sObject(value, `${relative(ROOT, patchFile)}#${index}`);
      const targets = objects.filter((object) =>
        patch.target
          ? (!patch.target.kind || object.kind === patch.target.kind) &&
            (!patch.target.name || object.metadata.name === patch.target.name) &&
            (!patch.target.labelSelector || matchesSelector(object, patch.target.labelSelector))
          : object.kind === body.kind && object.metadata.name === body.metadata.name,
      );
      if (targets.length === 0) throw new Error(`${relative(ROOT, patchFile)}: the patch matches no object`);
      objects = objects.map((object) => {
        if (!targets.includes(object)) return object;
        const { metadata: _metadata, apiVersion: _apiVersion, kind: _kind, ...rest } = body;
        return strategicMerge(object, patch.target ? rest : { ...rest, metadata: { ...body.metadata, name: object.metadata.name } }) as K8sObject;
      });
    }
  }

  for (const { name, count } of kustomization.replicas ?? []) {
    for (const object of objects) {
      if (object.metadata.name === name && WORKLOADS.has(object.kind) && isRecord(object['spec'])) object['spec'] = { ...object['spec'], replicas: count };
    }
  }

  for (const image of kustomization.images ?? []) {
    for (const object of objects) {
      for (const container of containersOf(object)) {
        const current = container['image'];
        if (typeof current !== 'string') continue;
        const [repository, tag] = current.split(':');
        if (repository !== image.name) continue;
        const newTag = image.newTag ?? tag;
        container['image'] = `${image.newName ?? repository}${newTag ? `:${newTag}` : ''}`;
      }
    }
  }

  for (const { pairs, includeTemplates } of kustomization.labels ?? []) {
    for (const object of objects) {
      object.metadata.labels = { ...object.metadata.labels, ...pairs };
      const template = podTemplate(object);
      if (includeTemplates && template && WORKLOADS.has(object.kind)) {
        const metadata = isRecord(template['metadata']) ? template['metadata'] : {};
        const labels = isRecord(metadata['labels']) ? metadata['labels'] : {};
        template['metadata'] = { ...metadata, labels: { ...labels, ...pairs } };
      }
    }
  }

  if (kustomization.namespace) {
    for (const object of objects) if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = kustomization.namespace;
  }
  return objects;
}

let kubectl: boolean | undefined;

/** Whether `kubectl kustomize` can run here (kubectl is on some machines, not all). */
export function hasKubectl(): boolean {
  kubectl ??= spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
  return kubectl;
}

/** `kubectl kustomize <dir>`, parsed. */
export function kubectlKustomize(dir: string): K8sObject[] {
  const output = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(output)
    .map((document) => document.toJS() as unknown)
    .filter((value) => value !== null)
    .map((value, index) => asK8sObject(value, `kubectl kustomize ${relative(ROOT, dir)}#${index}`));
}

/** The rendered objects of a kustomization: kubectl's where it exists, else the subset renderer. */
export function render(dir: string): K8sObject[] {
  return hasKubectl() ? kubectlKustomize(dir) : renderKustomization(dir);
}

export const objectKey = (object: K8sObject) => `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
