import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { waitFor } from '@sentryhub/testing';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface RunningService {
  name: string;
  port: number;
  process: ChildProcess;
  output: string[];
  stop(): Promise<number | null>;
}

/** Starts a built app (`dist/apps/<app>/main.js`) as a real process and waits for /readyz. */
export async function startService(app: string, env: Record<string, string>, portVariable: 'PORT' | 'HEALTH_PORT'): Promise<RunningService> {
  const entry = `dist/apps/${app}/main.js`;
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'info', ...env, [portVariable]: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  child.stderr?.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${app} exited with ${child.exitCode}:\n${output.join('\n')}`);
      const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
      return response?.status === 200 ? true : null;
    },
    30_000,
    `${app} to be ready`,
  );
  return {
    name: app,
    port,
    process: child,
    output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Workers first (each name once per replica), then the gateway: nothing published waits on a
 * consumer that is not there yet.
 */
export async function startStack(workers: readonly string[], env: Record<string, string>): Promise<{ services: RunningService[]; gatewayUrl: string }> {
  const services = await Promise.all(workers.map((app) => startService(app, env, 'HEALTH_PORT')));
  const gateway = await startService('webhook-gateway', env, 'PORT');
  return { services: [...services, gateway], gatewayUrl: `http://127.0.0.1:${gateway.port}` };
}
