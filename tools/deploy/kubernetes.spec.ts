import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { IIoK8sApiCoreV1Container as Container, IIoK8sApiCoreV1PodSpec as PodSpec } from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseWebhookReceivers } from '@sentryhub/service-runtime';
import { appOfProcess } from '../bench/stack-bench-report';
import {
  appImage,
  appNames,
  checkEnvironment,
  loadAppContract,
  migrationEnvNames,
  portWith,
  RECEIVER_FILE_APPS,
  receiverProblems,
  receiverVariables,
  ROOT,
  type AppContract,
} from './app-contracts';
import { ofKind, schemaProblems, type IDeployment } from './kubernetes-schemas';
import {
  asK8sObject,
  hasKubectl,
  kubectlKustomize,
  kustomizationFiles,
  objectKey,
  readKustomization,
  readYamlDocuments,
  render,
  renderKustomization,
  type K8sObject,
} from './kustomize';
import { deployedMemoryLimits, memoryQuantityBytes } from './node-options';
import { ENTRYPOINT_PROVIDED, readSlackProxyConf } from './slack-proxy';

/**
 * deploy/k8s: every file parses, every object is valid against the Kubernetes schemas, and the
 * rendered base and production overlay agree with the apps' own config schemas (images, ports,
 * probe paths, variable names and values), with the nginx Slack proxy's config, and with the
 * rules of docs/deployment.md (no literal secrets, only the gateway open to the outside).
 */
const K8S = join(ROOT, 'deploy', 'k8s');
const BASE = join(K8S, 'base');
const PRODUCTION = join(K8S, 'overlays', 'production');
const TO_COME = join(K8S, 'to-come');
const SECRET_EXAMPLE = join(BASE, 'secret.example.yaml');
const SECRET_NAME = 'sentryhub-secrets';
/** The apps exit within 10 s of SIGTERM (docs/contracts.md §1.2). */
const SHUTDOWN_SECONDS = 10;
/** Variables whose values are secrets: never a literal in a manifest, always a secretKeyRef. */
const SECRET_VARIABLE = /PASSWORD|TOKEN|SECRET|_KEY$|DATABASE_URL|SMTP_URL|WEBHOOK_URL/;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

const objectsOf = (file: string) => readYamlDocuments(file).map((value, index) => asK8sObject(value, `${relative(ROOT, file)}#${index}`));

function podSpec(deployment: IDeployment): PodSpec {
  const spec = deployment.spec?.template.spec;
  if (!spec) throw new Error(`${deployment.metadata?.name}: no pod spec`);
  return spec;
}

function onlyContainer(deployment: IDeployment): Container {
  const containers = podSpec(deployment).containers;
  expect(containers, `${deployment.metadata?.name}: one container`).toHaveLength(1);
  const [container] = containers;
  if (!container) throw new Error('no container');
  return container;
}

/** The environment a container gets: its ConfigMaps, literal values and Secret keys (example values). */
function containerEnvironment(container: Container, objects: K8sObject[], secretExample: Record<string, string>, where: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    expect(source.secretRef, `${where}: secrets come by key (secretKeyRef), not whole`).toBeUndefined();
    const name = source.configMapRef?.name;
    const configMap = ofKind.configMaps(objects).find((candidate) => candidate.metadata.name === name);
    expect(configMap, `${where}: ConfigMap ${name}`).toBeDefined();
    Object.assign(env, configMap?.data ?? {});
  }
  for (const variable of container.env ?? []) {
    const secret = variable.valueFrom?.secretKeyRef;
    if (secret) {
      expect(secret.name, `${where}: ${variable.name}`).toBe(SECRET_NAME);
      const value = secretExample[secret.key];
      expect(value, `${where}: ${variable.name} reads key ${secret.key}, missing from secret.example.yaml`).toBeDefined();
      env[variable.name] = value ?? '';
    } else {
      expect(variable.valueFrom, `${where}: ${variable.name} comes from a value or a secretKeyRef`).toBeUndefined();
      expect(variable.name, `${where}: ${variable.name} is a secret, it must come from a secretKeyRef`).not.toMatch(SECRET_VARIABLE);
      env[variable.name] = variable.value ?? '';
    }
  }
  return env;
}

/**
 * The receivers file a Deployment's WEBHOOK_RECEIVERS_FILE points at: the ConfigMap key behind the
 * read-only volume mounted over that path, as text, or null when it sets no such file.
 */
function mountedReceiversFile(deployment: IDeployment, objects: K8sObject[]): { text: string; configMap: string; variables: string[] } | null {
  const container = onlyContainer(deployment);
  const path = container.env?.find((variable) => variable.name === 'WEBHOOK_RECEIVERS_FILE')?.value;
  if (!path) return null;
  const where = `${deployment.metadata?.name}: WEBHOOK_RECEIVERS_FILE ${path}`;
  const mount = (container.volumeMounts ?? []).find((candidate) => path.startsWith(`${candidate.mountPath.replace(/\/$/, '')}/`));
  if (!mount) throw new Error(`${where}: no volume is mounted over it`);
  expect(mount.readOnly, `${where}: mounted read-only`).toBe(true);
  const volume = podSpec(deployment).volumes?.find((candidate) => candidate.name === mount.name);
  const configMapName = volume?.configMap?.name;
  if (!configMapName) throw new Error(`${where}: volume ${mount.name} is not a ConfigMap`);
  const key = path.slice(mount.mountPath.replace(/\/$/, '').length + 1);
  const text = ofKind.configMaps(objects).find((candidate) => candidate.metadata.name === configMapName)?.data?.[key];
  if (text === undefined) throw new Error(`${where}: ConfigMap ${configMapName} has no key ${key}`);
  return { text, configMap: configMapName, variables: receiverVariables(parseWebhookReceivers(text, where)) };
}

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);

const templateLabels = (deployment: IDeployment) => deployment.spec?.template.metadata?.labels ?? {};

describe('deploy/k8s', () => {
  let contracts: AppContract[];
  let secretExample: Record<string, string>;
  const rendered = new Map<string, K8sObject[]>();

  beforeAll(async () => {
    contracts = await Promise.all(appNames().map(loadAppContract));
    const [secret] = ofKind.secrets(objectsOf(SECRET_EXAMPLE));
    secretExample = secret?.stringData ?? {};
    rendered.set('base', render(BASE));
    rendered.set('production', render(PRODUCTION));
  });

  const variants = () => [...rendered.entries()];

  it('parses every YAML file, and each is a kustomization, a resource or patch of one, the secret example or a to-come app', () => {
    const files = yamlFiles(K8S);
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) expect(() => readYamlDocuments(file), relative(ROOT, file)).not.toThrow();
    const used = new Set([...kustomizationFiles(BASE), ...kustomizationFiles(PRODUCTION)]);
    const orphans = files.filter((file) => !used.has(file) && file !== SECRET_EXAMPLE && !file.startsWith(`${TO_COME}/`)).map((file) => relative(ROOT, file));
    expect(orphans, 'listed in no kustomization.yaml').toEqual([]);
    expect(used.has(SECRET_EXAMPLE), 'secret.example.yaml must not be deployed').toBe(false);
  });

  it('validates every object against the Kubernetes schemas, as files and as rendered', () => {
    const files = [...readKustomization(BASE).resources.map((entry) => join(BASE, entry)), SECRET_EXAMPLE, ...(existsSync(TO_COME) ? yamlFiles(TO_COME) : [])];
    for (const file of files) for (const object of objectsOf(file)) expect(schemaProblems(object, relative(ROOT, file))).toEqual([]);
    for (const [name, objects] of variants()) {
      expect(objects.length).toBeGreaterThan(10);
      for (const object of objects) expect(schemaProblems(object, `${name} (rendered)`)).toEqual([]);
    }
  });

  it('has a schema validator with teeth: a string port and a missing image are refused', () => {
    const [deployment] = ofKind.deployments(objectsOf(join(BASE, 'webhook-gateway.yaml')));
    const broken = structuredClone(deployment) as unknown as K8sObject & IDeployment;
    const container = broken.spec?.template.spec?.containers[0];
    if (!container) throw new Error('no container');
    Object.assign(container, { image: undefined, ports: [{ containerPort: 'http' }] });
    expect(schemaProblems(broken, 'broken').join('\n')).toMatch(/containerPort|image/);
  });

  it('renders the same with the built-in kustomize subset as with kubectl kustomize', () => {
    // Where kubectl is missing, render() falls back to renderKustomization(); this proves the two agree.
    if (!hasKubectl()) {
      console.info('kubectl is not installed here: rendered with the kustomize subset of tools/deploy/kustomize.ts');
      return;
    }
    for (const dir of [BASE, PRODUCTION]) {
      const byKey = (objects: K8sObject[]) => Object.fromEntries(objects.map((object) => [objectKey(object), object]));
      expect(byKey(renderKustomization(dir)), relative(ROOT, dir)).toEqual(byKey(kubectlKustomize(dir)));
    }
  });

  it('deploys every app, with its image, port, probes and a configuration its own schema accepts', () => {
    const overlayImages = new Map(
      (readKustomization(PRODUCTION).images ?? []).map((image) => [image.name, `${image.newName ?? image.name}:${image.newTag ?? ''}`]),
    );
    for (const [variant, objects] of variants()) {
      const deployments = ofKind.deployments(objects);
      expect(deployments.map((d) => d.metadata.name).sort(), variant).toEqual([...contracts.map((c) => c.name), 'slack-proxy'].sort());
      for (const contract of contracts) {
        const where = `${variant} Deployment ${contract.name}`;
        const deployment = deployments.find((d) => d.metadata.name === contract.name);
        if (!deployment) throw new Error(`${where} is missing`);
        const container = onlyContainer(deployment);
        expect(container.image, where).toBe(variant === 'base' ? appImage(contract.name) : overlayImages.get(appImage(contract.name)));
        if (variant === 'production') expect(container.image, `${where}: a pinned release`).toMatch(/:(?!latest$)[\w.-]+$/);

        const env = containerEnvironment(container, objects, secretExample, where);
        // The receivers file's variables are read through the file, not the config schema (checked below).
        const throughFile = new Set(mountedReceiversFile(deployment, objects)?.variables ?? []);
        expect(checkEnvironment(contract, Object.fromEntries(Object.entries(env).filter(([name]) => !throughFile.has(name))), where)).toEqual([]);
        const port = portWith(contract, env);
        expect(container.ports, where).toEqual([{ name: 'http', containerPort: port }]);
        expect(container.livenessProbe?.httpGet, `${where} liveness`).toEqual({ path: '/healthz', port: 'http' });
        expect(container.readinessProbe?.httpGet, `${where} readiness`).toEqual({ path: '/readyz', port: 'http' });
        expect(deployment.spec?.template.metadata?.annotations?.['prometheus.io/port'], where).toBe(String(port));

        const requests = container.resources?.requests ?? {};
        expect(Object.keys(requests).sort(), `${where} requests`).toEqual(['cpu', 'memory']);
        expect(container.resources?.limits?.['memory'], `${where} memory limit`).toBeDefined();
        const pod = podSpec(deployment);
        expect(pod.enableServiceLinks, `${where}: Service links would set RABBITMQ_PORT=tcp://... and break the config`).toBe(false);
        expect(pod.securityContext?.runAsNonRoot, where).toBe(true);
        expect(container.securityContext?.readOnlyRootFilesystem, where).toBe(true);
        expect(container.securityContext?.allowPrivilegeEscalation, where).toBe(false);
      }
    }
  });

  it('mounts the webhook receivers file from a ConfigMap into the admin and the webhook-notifier, every variable it names from the Secret', () => {
    for (const [variant, objects] of variants()) {
      const mounted = RECEIVER_FILE_APPS.map((app) => {
        const deployment = ofKind.deployments(objects).find((candidate) => candidate.metadata.name === app);
        if (!deployment) throw new Error(`${variant}: no Deployment ${app}`);
        const file = mountedReceiversFile(deployment, objects);
        if (!file) throw new Error(`${variant} ${app}: WEBHOOK_RECEIVERS_FILE is not set`);
        const where = `${variant} ${app}`;
        expect(file.variables.length, `${where}: the file names receivers with variables`).toBeGreaterThan(0);
        // Each variable the file names comes from the Secret key of the same name, never a literal.
        const env = onlyContainer(deployment).env ?? [];
        for (const name of file.variables) {
          const variable = env.find((candidate) => candidate.name === name);
          expect(variable?.valueFrom?.secretKeyRef, `${where}: ${name} from the Secret`).toMatchObject({ name: SECRET_NAME, key: name });
          // The notifier cannot start without them; the admin only test-sends with them.
          expect(variable?.valueFrom?.secretKeyRef?.optional ?? false, `${where}: ${name} optional`).toBe(app === 'admin');
        }
        // With the Secret's keys, the webhook-notifier would start: the file parses and every variable resolves.
        expect(receiverProblems(file.text, containerEnvironment(onlyContainer(deployment), objects, secretExample, where), where)).toEqual([]);
        return file;
      });
      // One file for both: the admin lists exactly the receivers the notifier sends to.
      expect(new Set(mounted.map((file) => file.configMap)).size, `${variant}: the same ConfigMap`).toBe(1);
      // ...and the check has teeth: without one of the Secret's keys the notifier would refuse to start, naming it.
      const [first] = mounted;
      const missing = first?.variables[0] ?? '';
      expect(receiverProblems(first?.text ?? '', {}, variant).join('\n')).toContain(`environment variable ${missing} is not set`);
    }
  });

  it('lets no one reach a worker, the webhook-notifier like the other notifiers, but Prometheus on its metrics port', () => {
    const workers = contracts.filter((contract) => contract.portVar === 'HEALTH_PORT').map((contract) => contract.name);
    for (const [variant, objects] of variants()) {
      for (const worker of workers) {
        const deployment = ofKind.deployments(objects).find((candidate) => candidate.metadata.name === worker);
        const reaching = ofKind
          .networkPolicies(objects)
          .filter((policy) => policy.spec?.ingress && selects(policy.spec.podSelector?.matchLabels, deployment ? templateLabels(deployment) : undefined));
        expect(
          reaching.map((policy) => policy.metadata.name),
          `${variant} ${worker}`,
        ).toEqual(['sentryhub-metrics-from-monitoring']);
      }
    }
  });

  it('gives every worker a production autoscaling ceiling, the webhook-notifier like the other notifiers', () => {
    const patched = readYamlDocuments(join(PRODUCTION, 'autoscaling.yaml')).map((value, index) => asK8sObject(value, `autoscaling.yaml#${index}`));
    const workers = contracts.filter((contract) => contract.portVar === 'HEALTH_PORT').map((contract) => contract.name);
    expect(workers).toContain('webhook-notifier');
    expect(
      patched
        .filter((object) => object.kind === 'HorizontalPodAutoscaler')
        .map((object) => object.metadata.name)
        .sort(),
    ).toEqual(workers.sort());
    const production = ofKind.hpas(rendered.get('production') ?? []);
    for (const worker of workers) expect(production.find((hpa) => hpa.metadata.name === worker)?.spec?.minReplicas, worker).toBeGreaterThanOrEqual(2);
  });

  it('reads memory quantities as Kubernetes does, and refuses what is not one', () => {
    expect(memoryQuantityBytes('256Mi')).toBe(256 * 2 ** 20);
    expect(memoryQuantityBytes('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(memoryQuantityBytes('500M')).toBe(500e6);
    expect(memoryQuantityBytes('64k')).toBe(64_000);
    expect(memoryQuantityBytes('134217728')).toBe(134_217_728);
    expect(memoryQuantityBytes(1024)).toBe(1024);
    expect(() => memoryQuantityBytes('256MB')).toThrow(/not a memory quantity: "256MB"/);
    expect(() => memoryQuantityBytes('')).toThrow(/not a memory quantity/);
  });

  it('gives each app the bench measures a memory limit above its peak RSS in the run docs/performance.md reports', () => {
    // The current figures name their run; its peaks (VmHWM, MiB) must fit the limits as deployed,
    // or Kubernetes would kill the pod under the load the bench sends.
    const performance = readFileSync(join(ROOT, 'docs', 'performance.md'), 'utf8');
    const current = performance.slice(performance.indexOf('## Current figures'));
    const run = /bench\/results\/(stack-[\w-]+)/.exec(current)?.[1];
    expect(run, 'docs/performance.md names the run of its current figures').toBeDefined();
    const report = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', `${run}.json`), 'utf8')) as { peakRssMiBOverall: Record<string, number | null> };
    const peaks = Object.entries(report.peakRssMiBOverall).filter(([name]) => name !== 'alertmanager');
    expect(peaks.length).toBeGreaterThanOrEqual(3);
    for (const [name, peakMiB] of peaks) {
      const app = appOfProcess(name);
      const limits = deployedMemoryLimits(app);
      for (const [where, bytes] of Object.entries(limits)) {
        expect(bytes, `${app}: a memory limit in the ${where} render`).not.toBeNull();
        expect(peakMiB ?? Number.POSITIVE_INFINITY, `${name}: peak RSS in ${run} against the ${where} limit`).toBeLessThan((bytes as number) / 2 ** 20);
      }
    }
  });

  it('gives each pod the time to shut down gracefully', () => {
    for (const [variant, objects] of variants()) {
      for (const deployment of ofKind.deployments(objects)) {
        const container = onlyContainer(deployment);
        const sleep = container.lifecycle?.preStop?.exec?.command;
        const preStop = sleep ? Number(sleep[1]) : 0;
        if (sleep) expect(sleep[0], `${deployment.metadata.name}: preStop`).toBe('sleep');
        expect(podSpec(deployment).terminationGracePeriodSeconds, `${variant} ${deployment.metadata.name}`).toBeGreaterThan(preStop + SHUTDOWN_SECONDS);
      }
    }
  });

  it('protects every app with a PodDisruptionBudget, scales workers with an HPA and exposes the HTTP apps with a Service', () => {
    for (const [variant, objects] of variants()) {
      const hpas = ofKind.hpas(objects);
      for (const contract of contracts) {
        const where = `${variant} ${contract.name}`;
        const deployment = ofKind.deployments(objects).find((d) => d.metadata.name === contract.name);
        if (!deployment) throw new Error(`${where}: no Deployment`);
        const labels = templateLabels(deployment);
        expect(
          ofKind.pdbs(objects).filter((pdb) => selects(pdb.spec?.selector?.matchLabels, labels)),
          `${where}: one PDB`,
        ).toHaveLength(1);
        const hpa = hpas.find((candidate) => candidate.spec?.scaleTargetRef.name === contract.name);
        if (contract.portVar === 'HEALTH_PORT') {
          // A worker: competing consumers, scaled by its HPA, which owns the replica count.
          expect(hpa?.spec?.scaleTargetRef, where).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: contract.name });
          expect(hpa?.spec?.minReplicas, where).toBeGreaterThanOrEqual(2);
          expect(hpa?.spec?.maxReplicas, where).toBeGreaterThanOrEqual(hpa?.spec?.minReplicas ?? 0);
          expect(deployment.spec?.replicas, `${where}: replicas belong to the HPA`).toBeUndefined();
        } else {
          expect(hpa, where).toBeUndefined();
          expect(deployment.spec?.replicas, `${where}: replicas for the PDB to keep one`).toBeGreaterThanOrEqual(2);
          const service = ofKind.services(objects).find((candidate) => candidate.metadata.name === contract.name);
          expect(service?.spec?.ports, where).toEqual([{ name: 'http', port: onlyContainer(deployment).ports?.[0]?.containerPort, targetPort: 'http' }]);
          expect(selects(service?.spec?.selector, labels) && Object.keys(service?.spec?.selector ?? {}).length > 0, `${where}: Service selects its pods`).toBe(
            true,
          );
        }
      }
      for (const hpa of hpas)
        expect(
          contracts.map((c) => c.name),
          `${variant}: HPA ${hpa.metadata.name} targets an app`,
        ).toContain(hpa.spec?.scaleTargetRef.name);
    }
  });

  it('migrates with the bundled migration image before anything else, from the Secret', () => {
    for (const [variant, objects] of variants()) {
      const [job, ...others] = ofKind.jobs(objects);
      expect(others, variant).toEqual([]);
      const spec = job?.spec?.template.spec;
      const container = spec?.containers[0];
      if (!job || !spec || !container) throw new Error(`${variant}: no migration Job`);
      expect(container.image?.replace(/^.*\/(sentryhub\/migrate)(:.*)?$/, '$1'), variant).toBe('sentryhub/migrate');
      expect(container.command, variant).toEqual(['node', '--enable-source-maps', 'dist/tools/migrate.js']);
      expect(spec.restartPolicy).toBe('Never');
      expect(spec.enableServiceLinks).toBe(false);
      const env = containerEnvironment(container, objects, secretExample, `${variant} Job`);
      expect(Object.keys(env).sort()).toEqual(migrationEnvNames().sort());
    }
  });

  it('keeps secrets out: no Secret object and no secret-looking literal anywhere', () => {
    for (const [variant, objects] of variants()) {
      expect(ofKind.secrets(objects), variant).toEqual([]);
      for (const configMap of ofKind.configMaps(objects))
        expect(
          Object.keys(configMap.data ?? {}).filter((key) => SECRET_VARIABLE.test(key)),
          `${variant} ConfigMap ${configMap.metadata.name}`,
        ).toEqual([]);
    }
    expect(
      Object.values(secretExample).every((value) => value.includes('change-me')),
      'secret.example.yaml holds placeholders only',
    ).toBe(true);
  });

  it('lets only the gateway be reached from anywhere, and each other pod only from where it must', () => {
    for (const [variant, objects] of variants()) {
      const policies = ofKind.networkPolicies(objects);
      const deployments = ofKind.deployments(objects);
      const selected = (podSelector: Record<string, string> | undefined) =>
        deployments.filter((d) => selects(podSelector, templateLabels(d))).map((d) => d.metadata.name);
      expect(
        policies.some(
          (p) =>
            Object.keys(p.spec?.podSelector?.matchLabels ?? {}).length === 0 &&
            !p.spec?.podSelector?.matchExpressions &&
            p.spec?.policyTypes?.includes('Ingress') &&
            !p.spec.ingress,
        ),
        `${variant}: default deny`,
      ).toBe(true);
      for (const deployment of deployments)
        expect(templateLabels(deployment)['app.kubernetes.io/part-of'], `${deployment.metadata.name} is covered by the part-of policies`).toBe('sentryhub');

      const openToAll = policies.flatMap((policy) =>
        (policy.spec?.ingress ?? []).some((rule) => !rule.from || rule.from.length === 0) ? selected(policy.spec?.podSelector?.matchLabels) : [],
      );
      expect([...new Set(openToAll)], variant).toEqual(['webhook-gateway']);

      // Everything else only from other pods of the namespace or named namespaces, never an ipBlock.
      for (const policy of policies)
        for (const rule of policy.spec?.ingress ?? [])
          for (const peer of rule.from ?? []) expect(peer.ipBlock, `${variant} ${policy.metadata.name}`).toBeUndefined();

      // slack-proxy accepts exactly the pods that are configured to post to it.
      const posters = deployments
        .filter((d) => onlyContainer(d).env?.some((variable) => variable.name === 'SLACK_INTERNAL_ENDPOINT'))
        .map((d) => d.metadata.name);
      const proxyPolicies = policies.filter(
        (p) =>
          selected(p.spec?.podSelector?.matchLabels).includes('slack-proxy') && p.spec?.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'slack-proxy',
      );
      const allowed = proxyPolicies.flatMap((p) =>
        (p.spec?.ingress ?? []).flatMap((rule) => (rule.from ?? []).flatMap((peer) => selected(peer.podSelector?.matchLabels))),
      );
      expect(allowed.sort(), `${variant}: slack-proxy ingress`).toEqual(posters.sort());
    }
  });

  it('wires slack-proxy as docker/nginx/slack-proxy.conf expects', () => {
    const conf = readSlackProxyConf();
    for (const [variant, objects] of variants()) {
      const deployment = ofKind.deployments(objects).find((d) => d.metadata.name === 'slack-proxy');
      if (!deployment) throw new Error(`${variant}: no slack-proxy`);
      const container = onlyContainer(deployment);
      expect(container.image?.replace(/^.*\/(sentryhub\/slack-proxy)(:.*)?$/, '$1')).toBe('sentryhub/slack-proxy');
      expect(container.ports).toEqual([{ name: 'http', containerPort: conf.listenPort }]);
      expect(deployment.spec?.replicas, 'one proxy: its rate limit is per nginx').toBe(1);
      const env = containerEnvironment(container, objects, secretExample, `${variant} slack-proxy`);
      for (const variable of conf.templateVariables) {
        const provided = ENTRYPOINT_PROVIDED[variable];
        if (provided) expect(env[provided.variable]).toBe(provided.value);
        else expect(env[variable], `slack-proxy.conf needs ${variable}`).toBeTruthy();
      }
      const service = ofKind.services(objects).find((candidate) => selects(candidate.spec?.selector, templateLabels(deployment)));
      expect(service?.spec?.ports?.[0]?.port).toBe(conf.listenPort);
      for (const poster of ofKind.deployments(objects)) {
        const endpoint = onlyContainer(poster).env?.find((variable) => variable.name === 'SLACK_INTERNAL_ENDPOINT')?.value;
        if (endpoint) expect(endpoint, `${variant} ${poster.metadata.name}`).toBe(`http://${service?.metadata.name}:${conf.listenPort}${conf.proxyPath}`);
      }
    }
  });

  it('pins every production image and maps only images the base uses', () => {
    const baseImages = new Set(ofKind.deployments(rendered.get('base') ?? []).map((d) => onlyContainer(d).image));
    for (const job of ofKind.jobs(rendered.get('base') ?? [])) baseImages.add(job.spec?.template.spec?.containers[0]?.image);
    const images = readKustomization(PRODUCTION).images ?? [];
    expect(images.map((image) => image.name).sort()).toEqual([...baseImages].sort());
    for (const image of images) expect(image.newTag, image.name).toMatch(/^(?!latest$)[\w.-]+$/);
    const namespace = readKustomization(PRODUCTION).namespace;
    for (const object of rendered.get('production') ?? [])
      if (object.kind !== 'Namespace') expect(object.metadata.namespace, objectKey(object)).toBe(namespace);
  });

  it('keeps apps that do not exist yet out of the deployment, and wants them in once they do', () => {
    for (const file of existsSync(TO_COME) ? yamlFiles(TO_COME) : []) {
      const app = basename(file).replace(/\.ya?ml$/, '');
      expect(
        existsSync(join(ROOT, 'apps', app)),
        `apps/${app} exists now: deploy it (deploy/k8s/README.md, "Adding an app") and remove ${relative(ROOT, file)}`,
      ).toBe(false);
      const [deployment] = ofKind.deployments(objectsOf(file));
      expect(deployment?.metadata.name).toBe(app);
      expect(deployment && onlyContainer(deployment).image).toBe(appImage(app));
      for (const variable of (deployment && onlyContainer(deployment).env) ?? []) {
        const key = variable.valueFrom?.secretKeyRef?.key;
        if (key) expect(secretExample[key], `${app}: key ${key} in secret.example.yaml`).toBeDefined();
      }
      for (const [variant, objects] of variants())
        expect(
          objects.filter((object) => object.metadata.name === app),
          `${variant} must not deploy ${app} yet`,
        ).toEqual([]);
    }
  });
});
