import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { parseWebhookReceivers } from '@sentryhub/service-runtime';
import { beforeAll, describe, expect, it } from 'vitest';
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
import { readYamlDocuments } from './kustomize';
import {
  composeSchemaProblems,
  dockerComposeConfig,
  hasDockerCompose,
  healthcheckTarget,
  readCompose,
  readComposeRaw,
  type ComposeFile,
  type ComposeService,
} from './compose';
import { ENTRYPOINT_PROVIDED, readSlackProxyConf } from './slack-proxy';

/**
 * docker/compose.yaml: valid for Compose, and every app service agrees with the app's own
 * config schema (variable names and values, port, health path, image and build arguments).
 */
const INFRASTRUCTURE = ['rabbitmq', 'postgres', 'migrate', 'slack-stand-in', 'slack-proxy'];

const seconds = (duration: string) => {
  const match = duration.match(/^(\d+)(s|m)$/);
  if (!match) throw new Error(`unexpected duration ${duration}`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
};

describe('docker/compose.yaml', () => {
  let contracts: AppContract[];
  let compose: ComposeFile;
  const service = (name: string): ComposeService => {
    const found = compose.services[name];
    if (!found) throw new Error(`docker/compose.yaml has no service ${name}`);
    return found;
  };
  const environment = (name: string) => service(name).environment ?? {};

  beforeAll(async () => {
    contracts = await Promise.all(appNames().map(loadAppContract));
    compose = readCompose();
  });

  it('is valid against the Compose Specification schema', () => {
    expect(composeSchemaProblems(readComposeRaw())).toEqual([]);
    // ...and the schema has teeth: a misspelt key and an unknown condition are refused.
    const broken = structuredClone(readComposeRaw()) as { services: Record<string, Record<string, unknown>> };
    const gateway = broken.services['webhook-gateway'] ?? {};
    broken.services['webhook-gateway'] = { ...gateway, imagee: 'x', depends_on: { rabbitmq: { condition: 'service_ready' } } };
    expect(composeSchemaProblems(broken).join('\n')).toMatch(/imagee[\s\S]*condition|condition[\s\S]*imagee/);
  });

  it('passes `docker compose config` where Docker’s compose plugin is installed', () => {
    // This machine kind has Docker's client without the compose plugin (and no engine); where
    // the plugin exists, Compose's own parser must accept the file and see the same services.
    if (!hasDockerCompose()) {
      console.info('docker compose is not installed here: validated against the Compose Specification schema only');
      return;
    }
    const result = dockerComposeConfig();
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    const normalised = JSON.parse(result.stdout) as { services: Record<string, unknown> };
    expect(Object.keys(normalised.services).sort()).toEqual(Object.keys(compose.services).sort());
  });

  it('runs every app, and nothing under sentryhub/ that is not an app, the migration or the Slack proxy', () => {
    const apps = contracts.map((contract) => contract.name);
    expect(Object.keys(compose.services).sort()).toEqual([...INFRASTRUCTURE, ...apps].sort());
    for (const [name, definition] of Object.entries(compose.services)) {
      if (definition.image.startsWith('sentryhub/'))
        expect([...apps, 'migrate', 'slack-proxy'], `${name}: image ${definition.image}`).toContain(definition.image.slice('sentryhub/'.length));
    }
  });

  it('builds each app image with the build arguments of its own config schema', () => {
    for (const contract of contracts) {
      const { image, build } = service(contract.name);
      expect(image).toBe(appImage(contract.name));
      expect(build).toEqual({
        context: '..',
        dockerfile: 'docker/Dockerfile',
        args: { APP: contract.name, APP_PORT_VAR: contract.portVar, APP_PORT: String(contract.defaultPort) },
      });
    }
    expect(service('migrate').build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile', target: 'migrate' });
    expect(service('slack-proxy').build).toEqual({ context: 'nginx' });
    expect(readFileSync(join(ROOT, 'docker', 'nginx', 'Dockerfile'), 'utf8')).toMatch(
      /^COPY slack-proxy\.conf \/etc\/nginx\/templates\/slack-proxy\.conf\.template$/m,
    );
  });

  it('gives each app only variables it reads, with values it accepts, with the laptop defaults and with every variable set', () => {
    const everySet = {
      RABBITMQ_PASSWORD: 'p',
      POSTGRES_PASSWORD: 'q',
      LOG_LEVEL: 'debug',
      WEBHOOK_TOKENS: 'a,b',
      SLACK_DEFAULT_CHANNEL: '#ops',
      ADMIN_BOOTSTRAP_KEY: 'k'.repeat(32),
      SMTP_URL: 'smtp://u:p@mail.example.com:587',
      EMAIL_FROM: 'Alerts <alerts@example.com>',
    };
    for (const variant of [compose, readCompose(everySet)]) {
      for (const contract of contracts) {
        expect(checkEnvironment(contract, variant.services[contract.name]?.environment ?? {}, `docker/compose.yaml ${contract.name}`)).toEqual([]);
      }
    }
    expect(Object.keys(environment('migrate')).filter((name) => !migrationEnvNames().includes(name))).toEqual([]);
  });

  it('checks each app’s readiness on the port its environment gives it, and stops it gracefully', () => {
    for (const contract of contracts) {
      const definition = service(contract.name);
      const port = portWith(contract, environment(contract.name));
      expect(healthcheckTarget(definition.healthcheck?.test ?? []), `${contract.name} healthcheck`).toEqual({ port, path: '/readyz' });
      expect(definition.ports?.every((mapping) => mapping.endsWith(`:${port}`)) ?? true, `${contract.name} publishes port ${port}`).toBe(true);
      // The apps exit within 10 s of SIGTERM (docs/contracts.md §1.2); Compose's default is 10 s.
      expect(seconds(definition.stop_grace_period ?? '10s')).toBeGreaterThan(10);
    }
  });

  it('starts apps after a healthy broker and database and a completed migration', () => {
    for (const contract of contracts) {
      expect(service(contract.name).depends_on).toMatchObject({
        rabbitmq: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
      });
    }
    for (const [name, definition] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(definition.depends_on ?? {})) {
        expect(compose.services[dependency], `${name} depends on ${dependency}`).toBeDefined();
        if (condition === 'service_healthy') expect(compose.services[dependency]?.healthcheck, `${dependency} needs a healthcheck for ${name}`).toBeDefined();
      }
    }
    expect(service('migrate').restart).toBe('no');
  });

  it('connects every app to the same broker and database the infrastructure services define', () => {
    const rabbit = environment('rabbitmq');
    const postgres = environment('postgres');
    const databaseUrl = new URL(environment('migrate')['DATABASE_URL'] ?? '');
    expect(databaseUrl.username).toBe(postgres['POSTGRES_USER']);
    expect(decodeURIComponent(databaseUrl.password)).toBe(postgres['POSTGRES_PASSWORD']);
    expect(databaseUrl.pathname).toBe(`/${postgres['POSTGRES_DB']}`);
    expect(`${databaseUrl.hostname}:${databaseUrl.port}`).toBe('postgres:5432');
    for (const contract of contracts) {
      const env = environment(contract.name);
      expect(env['RABBITMQ_HOST'], contract.name).toBe('rabbitmq');
      expect(env['RABBITMQ_USER'], contract.name).toBe(rabbit['RABBITMQ_DEFAULT_USER']);
      expect(env['RABBITMQ_PASSWORD'], contract.name).toBe(rabbit['RABBITMQ_DEFAULT_PASS']);
      expect(env['DATABASE_URL'], contract.name).toBe(databaseUrl.toString());
    }
  });

  it('sends Slack messages through the nginx proxy as its config listens, and the proxy to the stand-in', () => {
    const conf = readSlackProxyConf();
    const users = contracts.filter((contract) => contract.envNames.has('SLACK_INTERNAL_ENDPOINT'));
    expect(users.map((contract) => contract.name)).toContain('slack-notifier');
    for (const contract of users)
      expect(environment(contract.name)['SLACK_INTERNAL_ENDPOINT'], contract.name).toBe(`http://slack-proxy:${conf.listenPort}${conf.proxyPath}`);
    const proxyEnv = environment('slack-proxy');
    for (const variable of conf.templateVariables) {
      const provided = ENTRYPOINT_PROVIDED[variable];
      if (provided) expect(proxyEnv[provided.variable], `${provided.variable} makes the entrypoint set ${variable}`).toBe(provided.value);
      else expect(proxyEnv[variable], `slack-proxy.conf needs ${variable}`).toBeTruthy();
    }
    expect(healthcheckTarget(service('slack-proxy').healthcheck?.test ?? [])).toEqual({ port: conf.listenPort, path: '/healthz' });
    const standIn = new URL(proxyEnv['SLACK_WEBHOOK_URL'] ?? '');
    expect(standIn.hostname).toBe('slack-stand-in');
    expect(Number(standIn.port)).toBe(Number(environment('slack-stand-in')['PORT']));
    expect(healthcheckTarget(service('slack-stand-in').healthcheck?.test ?? [])?.port).toBe(Number(standIn.port));
    expect(service('slack-stand-in').volumes).toEqual(['./slack-stand-in:/srv/slack-stand-in:ro']);
    expect(service('slack-stand-in').command).toEqual(['node', '/srv/slack-stand-in/server.mjs']);
    expect(existsSync(join(ROOT, 'docker', 'slack-stand-in', 'server.mjs'))).toBe(true);
  });

  it('mounts the webhook receivers file into the admin and the webhook-notifier, with an env file holding every variable it names', () => {
    const DOCKER = join(ROOT, 'docker');
    const mine = { WEBHOOK_RECEIVERS: './webhook-receivers.yaml', WEBHOOK_RECEIVERS_ENV: './webhook-receivers.env' };
    for (const [variant, env] of [
      ['defaults', {}],
      ['own files', mine],
    ] as const) {
      const file = readCompose(env);
      const config = (file as { configs?: Record<string, { file?: string }> }).configs?.['webhook-receivers']?.file;
      expect(config, variant).toBe(variant === 'defaults' ? './webhook-receivers.example.yaml' : mine.WEBHOOK_RECEIVERS);
      for (const app of RECEIVER_FILE_APPS) {
        const definition = file.services[app] as ComposeService & { configs?: unknown; env_file?: unknown };
        const path = definition.environment?.['WEBHOOK_RECEIVERS_FILE'];
        expect(definition.configs, `${variant} ${app}`).toEqual([{ source: 'webhook-receivers', target: path }]);
        expect(definition.env_file, `${variant} ${app}`).toBe(variant === 'defaults' ? './webhook-receivers.example.env' : mine.WEBHOOK_RECEIVERS_ENV);
      }
    }
    // The real files are the operator's: never committed.
    const ignored = readFileSync(join(DOCKER, '.gitignore'), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining([mine.WEBHOOK_RECEIVERS.slice(2), mine.WEBHOOK_RECEIVERS_ENV.slice(2)]));

    // With the defaults the webhook-notifier starts: the example names exactly the variables of the example env file.
    const text = readFileSync(join(DOCKER, 'webhook-receivers.example.yaml'), 'utf8');
    const values = parseEnv(readFileSync(join(DOCKER, 'webhook-receivers.example.env'), 'utf8')) as Record<string, string>;
    const variables = receiverVariables(parseWebhookReceivers(text));
    expect(variables.length).toBeGreaterThan(0);
    expect(Object.keys(values).sort()).toEqual(variables);
    expect(
      Object.values(values).every((value) => value.includes('change-me')),
      'placeholders only',
    ).toBe(true);
    expect(receiverProblems(text, values, 'webhook-receivers.example.yaml')).toEqual([]);
    // ...and the same receivers as the Kubernetes ConfigMap.
    const [configMap] = readYamlDocuments(join(ROOT, 'deploy', 'k8s', 'base', 'webhook-receivers.yaml')) as { data: Record<string, string> }[];
    expect(parseWebhookReceivers(configMap?.data['receivers.yaml'] ?? '')).toEqual(parseWebhookReceivers(text));
  });

  it('runs the stand-in on the Node image the apps are built on', () => {
    const pinned = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8').match(/^ARG NODE_IMAGE=(\S+)$/m)?.[1];
    expect(service('slack-stand-in').image).toBe(pinned);
  });
});
