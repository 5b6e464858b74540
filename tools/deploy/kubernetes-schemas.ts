import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job, type IJob } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace, type INamespace } from 'kubernetes-models/v1/Namespace';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import type { K8sObject } from './kustomize';

export type { IConfigMap, IDeployment, IHorizontalPodAutoscaler, IJob, INamespace, INetworkPolicy, IPodDisruptionBudget, ISecret, IService };

/**
 * The Kubernetes JSON schemas (OpenAPI of the Kubernetes API, compiled into validators by the
 * kubernetes-models package, offline) of every kind these manifests use. A kind missing here
 * is an error: add its model rather than let it through unchecked.
 */
const VALIDATORS: Record<string, (object: K8sObject) => void> = {
  'apps/v1/Deployment': (object) => new Deployment(object as unknown as IDeployment).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (object) => new HorizontalPodAutoscaler(object as unknown as IHorizontalPodAutoscaler).validate(),
  'batch/v1/Job': (object) => new Job(object as unknown as IJob).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (object) => new NetworkPolicy(object as unknown as INetworkPolicy).validate(),
  'policy/v1/PodDisruptionBudget': (object) => new PodDisruptionBudget(object as unknown as IPodDisruptionBudget).validate(),
  'v1/ConfigMap': (object) => new ConfigMap(object as unknown as IConfigMap).validate(),
  'v1/Namespace': (object) => new Namespace(object as unknown as INamespace).validate(),
  'v1/Secret': (object) => new Secret(object as unknown as ISecret).validate(),
  'v1/Service': (object) => new Service(object as unknown as IService).validate(),
};

/** Schema problems of one object (none: valid). */
export function schemaProblems(object: K8sObject, where: string): string[] {
  const validate = VALIDATORS[`${object.apiVersion}/${object.kind}`];
  if (!validate) return [`${where}: ${object.apiVersion} ${object.kind} has no schema validator in tools/deploy/kubernetes-schemas.ts`];
  try {
    validate(object);
    return [];
  } catch (error) {
    return [`${where}: ${object.kind} ${object.metadata.name}: ${(error as Error).message}`];
  }
}

/** Typed views, for objects that passed `schemaProblems`. */
export const ofKind = {
  deployments: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment') as unknown as (IDeployment & K8sObject)[],
  services: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Service') as unknown as (IService & K8sObject)[],
  pdbs: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'PodDisruptionBudget') as unknown as (IPodDisruptionBudget & K8sObject)[],
  hpas: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'HorizontalPodAutoscaler') as unknown as (IHorizontalPodAutoscaler & K8sObject)[],
  jobs: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Job') as unknown as (IJob & K8sObject)[],
  configMaps: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'ConfigMap') as unknown as (IConfigMap & K8sObject)[],
  networkPolicies: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as (INetworkPolicy & K8sObject)[],
  secrets: (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Secret') as unknown as (ISecret & K8sObject)[],
};
