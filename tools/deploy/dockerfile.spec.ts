import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appNames, dockerBuildCommand, loadAppContract, readProject, ROOT, type AppContract } from './app-contracts';
import { deployedNodeOptions, IMAGE_NODE_OPTIONS } from './node-options';

/**
 * docker/Dockerfile and each app's nx `docker-build` target, against the apps' own config
 * schemas and the build scripts. No Docker engine is needed: the file is read, and its
 * HEALTHCHECK command is run with node as the image would run it.
 */
const dockerfile = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
const stages = instructions.reduce<{ name: string; lines: string[] }[]>((all, line) => {
  const from = line.match(/^FROM\s+\S+(?:\s+AS\s+(\S+))?/i);
  if (from) all.push({ name: from[1] ?? '', lines: [line] });
  else all.at(-1)?.lines.push(line);
  return all;
}, []);
const stage = (name: string) => {
  const found = stages.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`docker/Dockerfile has no stage ${name}`);
  return found.lines;
};
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; devDependencies: Record<string, string> };

describe('docker/Dockerfile', () => {
  let contracts: AppContract[];
  beforeAll(async () => {
    contracts = await Promise.all(appNames().map(loadAppContract));
  });

  it('gives every app an nx docker-build target with the port arguments of its own config schema', () => {
    expect(contracts.length).toBeGreaterThan(0);
    for (const contract of contracts) {
      const target = readProject(contract.name).targets?.['docker-build'];
      expect(target?.options?.command, `apps/${contract.name}/project.json docker-build`).toBe(dockerBuildCommand(contract));
    }
  });

  it('pins the Node 24 release the repository itself runs on, as a slim image', () => {
    const pinned = dockerfile.match(/^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.(\d+)-slim$/m);
    expect(pinned, 'ARG NODE_IMAGE=node:<x.y.z>-slim').not.toBeNull();
    const version = pinned?.slice(1, 4).join('.');
    expect(packageJson.engines.node).toContain(`>=${pinned?.[1]}`);
    expect(packageJson.devDependencies['node']?.replace(/^[\^~]/, '')).toBe(version);
    expect(
      instructions.filter((line) => /^FROM /i.test(line) && !/^FROM (\$\{NODE_IMAGE\}|[a-z-]+)( AS |$)/i.test(line)),
      'every stage starts from NODE_IMAGE or another stage',
    ).toEqual([]);
  });

  it('builds with every dependency and runs with the production ones only, as a non-root user', () => {
    expect(stage('build-deps').join('\n')).toMatch(/npm ci --ignore-scripts/);
    expect(stage('production-deps').join('\n')).toMatch(/npm ci --omit=dev/);
    for (const final of ['app', 'migrate']) {
      const lines = stage(final);
      expect(
        lines.filter((line) => /^COPY --from=/.test(line)).map((line) => line.split(/\s+/)[1]),
        `${final}: copies only built files and production node_modules`,
      ).toEqual(expect.arrayContaining(['--from=production-deps']));
      expect(
        lines.some((line) => /^COPY --from=build-deps/.test(line)),
        `${final} must not copy the build stage's dev dependencies`,
      ).toBe(false);
      expect(
        lines.filter((line) => /^USER /.test(line)),
        `${final} runs as the image's node user`,
      ).toEqual(['USER node']);
      expect(lines.findIndex((line) => /^USER /.test(line))).toBeLessThan(lines.findIndex((line) => /^(CMD|ENTRYPOINT) /.test(line)));
    }
    expect(stages.at(-1)?.name, 'the app stage is last, so a build without --target gives the app').toBe('app');
  });

  it('starts the bundle that tools/build/build-app.mjs writes, and the migration bundle of build-migrate.mjs', () => {
    expect(readFileSync(join(ROOT, 'tools', 'build', 'build-app.mjs'), 'utf8')).toContain('`dist/apps/${app}/main.js`');
    expect(stage('build-app').join('\n')).toContain('node tools/build/build-app.mjs "${APP}"');
    expect(stage('app').join('\n')).toContain('COPY --from=build-app /app/dist/apps/${APP} ./dist/apps/${APP}');
    expect(stage('app').find((line) => line.startsWith('CMD '))).toBe(
      'CMD ["sh", "-c", "exec node --enable-source-maps \\"dist/apps/${SENTRYHUB_APP}/main.js\\""]',
    );
    expect(stage('build-migrate').join('\n')).toContain('node tools/build/build-migrate.mjs dist/tools/migrate.js');
    expect(stage('migrate').find((line) => line.startsWith('CMD '))).toBe('CMD ["node", "--enable-source-maps", "dist/tools/migrate.js"]');
  });

  it('gives every app the node options the bench measures it with, unless its Deployment sets its own', () => {
    const env = stage('app').find((line) => line.startsWith('ENV ') && line.includes('NODE_OPTIONS='));
    expect(env, 'the app stage sets NODE_OPTIONS').toBeDefined();
    expect(env).toContain(`NODE_OPTIONS="${IMAGE_NODE_OPTIONS.join(' ')}"`);
    expect(deployedNodeOptions('webhook-gateway')).toEqual(IMAGE_NODE_OPTIONS);
    expect(deployedNodeOptions('slack-notifier'), "the notifier's Deployment sets its own").toContain('--max-old-space-size=128');
  });

  it('copies only files that exist and that the .dockerignore files let into the build context', () => {
    const read = (file: string) =>
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .filter((line) => line.trim() && !line.startsWith('#'));
    const ignore = read('.dockerignore');
    expect(read('docker/Dockerfile.dockerignore'), 'docker/Dockerfile.dockerignore and .dockerignore say the same').toEqual(ignore);
    const allowed = ignore.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/\/$/, ''));
    const sources = instructions
      .filter((line) => /^COPY /.test(line) && !/--from=/.test(line))
      .flatMap((line) => line.split(/\s+/).slice(1, -1))
      .map((source) => source.replace('${APP}', appNames()[0] ?? ''));
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
      expect(
        allowed.some((entry) => source === entry || source.startsWith(`${entry}/`)),
        `${source} is let into the context by .dockerignore`,
      ).toBe(true);
    }
  });

  it('has a HEALTHCHECK that asks /healthz on the port variable of the app, and fails when it does not answer 200', async () => {
    const healthcheck = stage('app').find((line) => line.startsWith('HEALTHCHECK '));
    const command = healthcheck?.match(/CMD (\[.*\])$/)?.[1];
    expect(command).toBeDefined();
    const argv = JSON.parse(command ?? '[]') as string[];
    expect(argv.slice(0, 2)).toEqual(['node', '-e']);
    expect(stage('app').join('\n')).toMatch(/SENTRYHUB_PORT_VAR=\$\{APP_PORT_VAR\}[\s\S]*SENTRYHUB_DEFAULT_PORT=\$\{APP_PORT\}/);

    const paths: string[] = [];
    let status = 200;
    const server: Server = createServer((request, response) => {
      paths.push(request.url ?? '');
      response.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const run = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, argv.slice(1), { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'ignore' });
        child.once('exit', resolve);
      });
    try {
      // The port comes from the app's variable when set, else from the build argument's default.
      expect(await run({ SENTRYHUB_PORT_VAR: 'HEALTH_PORT', SENTRYHUB_DEFAULT_PORT: '1', HEALTH_PORT: String(port) })).toBe(0);
      expect(await run({ SENTRYHUB_PORT_VAR: 'PORT', SENTRYHUB_DEFAULT_PORT: String(port) })).toBe(0);
      status = 503;
      expect(await run({ SENTRYHUB_PORT_VAR: 'PORT', SENTRYHUB_DEFAULT_PORT: String(port) })).toBe(1);
      expect(paths).toEqual(['/healthz', '/healthz', '/healthz']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
