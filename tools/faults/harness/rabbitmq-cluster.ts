import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '@sentryhub/testing';

const exec = promisify(execFile);

/** Where the Debian package keeps the real scripts (the /usr/sbin ones switch to the `rabbitmq` user, whose HOME holds the machine broker's cookie). */
const SCRIPTS = '/usr/lib/rabbitmq/bin';
const tool = (name: string) => (existsSync(join(SCRIPTS, name)) ? join(SCRIPTS, name) : name);

/** Temp directories of clusters started by this harness: `<tmpdir>/sentryhub-rmq-cluster-*`. */
const DIR_PREFIX = 'sentryhub-rmq-cluster-';

export interface ClusterNode {
  /** `sh-rmq-a@localhost`. */
  name: string;
  /** AMQP port (127.0.0.1 only). */
  port: number;
  /** Erlang distribution port. */
  distPort: number;
  dir: string;
}

export interface ClusterOptions {
  /** Node name suffixes; one node each. */
  nodes?: readonly string[];
  /** AMQP port of the first node; the next ones follow. */
  firstPort?: number;
}

/**
 * A RabbitMQ cluster of its own on this machine, beside the machine's broker and never touching
 * it: distinct node names (`sh-rmq-<x>@localhost`), AMQP ports (5681...) and distribution ports
 * (25681...), a random Erlang cookie in a temp HOME, and every file (config, enabled plugins: none,
 * so no management listener; data; logs; pid) under one temp directory. Started with
 * `rabbitmq-server -detached`, clustered with stop_app / join_cluster / start_app.
 */
export class RabbitCluster {
  private constructor(
    readonly dir: string,
    readonly nodes: readonly ClusterNode[],
    private readonly cookie: string,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<RabbitCluster> {
    await RabbitCluster.removeLeftovers();
    const names = options.nodes ?? ['a', 'b', 'c'];
    const firstPort = options.firstPort ?? 5681;
    const nodes = names.map((suffix, index) => ({
      name: `sh-rmq-${suffix}@localhost`,
      port: firstPort + index,
      distPort: firstPort + index + 20_000,
      dir: '',
    }));
    for (const node of nodes) {
      for (const port of [node.port, node.distPort]) {
        if (await listening(port)) throw new Error(`cannot start the test RabbitMQ cluster: port ${port} (node ${node.name}) is already in use on 127.0.0.1`);
      }
    }
    const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
    // Whose cluster this is: a directory whose owner is gone is a leftover (removeLeftovers).
    await writeFile(join(dir, 'owner'), String(process.pid));
    const cookie = randomBytes(24).toString('hex').toUpperCase();
    const cookieFile = join(dir, '.erlang.cookie');
    await writeFile(cookieFile, cookie);
    await chmod(cookieFile, 0o400);
    const cluster = new RabbitCluster(
      dir,
      nodes.map((node) => ({ ...node, dir: join(dir, node.name.split('@')[0] ?? node.name) })),
      cookie,
    );
    try {
      for (const node of cluster.nodes) {
        await mkdir(join(node.dir, 'mnesia'), { recursive: true });
        await mkdir(join(node.dir, 'log'), { recursive: true });
        await writeFile(join(node.dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${node.port}\n`);
        await writeFile(join(node.dir, 'advanced.config'), '[].\n');
        await writeFile(join(node.dir, 'enabled_plugins'), '[].\n');
        // Replaces /etc/rabbitmq/rabbitmq-env.conf, which names the machine broker's node.
        await writeFile(join(node.dir, 'rabbitmq-env.conf'), '');
      }
      await Promise.all(cluster.nodes.map((node) => cluster.startNode(node)));
      const [first, ...others] = cluster.nodes;
      if (!first) throw new Error('a cluster needs at least one node');
      for (const node of others) {
        await cluster.ctl(node, 'stop_app');
        await cluster.ctl(node, 'join_cluster', first.name);
        await cluster.ctl(node, 'start_app');
      }
      const running = await cluster.runningNodes(first);
      if (running.length !== cluster.nodes.length) throw new Error(`the test cluster formed with ${running.join(', ')} only`);
      return cluster;
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }

  /** AMQP URLs of every node for a vhost (`/` by default), in node order. */
  urls(vhost = '/'): string[] {
    return this.nodes.map((node) => `amqp://guest:guest@127.0.0.1:${node.port}/${encodeURIComponent(vhost)}`);
  }

  node(name: string): ClusterNode {
    const node = this.nodes.find((candidate) => candidate.name === name);
    if (!node) throw new Error(`no node ${name} in the test cluster (${this.nodes.map((candidate) => candidate.name).join(', ')})`);
    return node;
  }

  /** Starts (or restarts) one node and waits until it booted and, in a formed cluster, rejoined. */
  async startNode(node: ClusterNode): Promise<void> {
    await exec(tool('rabbitmq-server'), ['-detached'], { env: this.env(node), timeout: 60_000 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        throw new Error(`cannot start the test RabbitMQ cluster: rabbitmq-server is not installed (neither ${SCRIPTS}/rabbitmq-server nor on PATH)`, {
          cause: error,
        });
      throw error;
    });
    // `-detached` returns before the VM registered with epmd: until then await_startup fails at once.
    await waitFor(
      () =>
        this.ctl(node, 'await_startup', '--timeout', '120').then(
          () => true,
          () => null,
        ),
      120_000,
      `test RabbitMQ node ${node.name} to boot`,
    );
  }

  /** Stops one node's Erlang VM (`rabbitmqctl stop`): its connections close, its queue replicas go offline. */
  async stopNode(node: ClusterNode): Promise<void> {
    await this.ctl(node, 'stop');
  }

  /** Names of the nodes running, as `on` sees them. */
  async runningNodes(on: ClusterNode): Promise<string[]> {
    const { stdout } = await this.ctl(on, 'cluster_status', '--formatter', 'json');
    return (JSON.parse(stdout) as { running_nodes: string[] }).running_nodes;
  }

  /** Each queue of a vhost with its leader and its members online, as `on` sees them. */
  async queues(on: ClusterNode, vhost = '/'): Promise<{ name: string; type: string; leader: string; members: string[]; online: string[] }[]> {
    const { stdout } = await this.ctl(on, 'list_queues', '-p', vhost, 'name', 'type', 'leader', 'members', 'online', '--formatter', 'json');
    return JSON.parse(stdout) as { name: string; type: string; leader: string; members: string[]; online: string[] }[];
  }

  /** Client connections of the whole cluster counted per node they are on, as `on` sees them. */
  async connectionsPerNode(on: ClusterNode): Promise<Record<string, number>> {
    // `port` is the server's side of the connection: the AMQP port of the node it is on.
    const { stdout } = await this.ctl(on, 'list_connections', 'port', '--formatter', 'json');
    const counts: Record<string, number> = Object.fromEntries(this.nodes.map((node) => [node.name, 0]));
    for (const row of JSON.parse(stdout) as { port: number }[]) {
      const name = this.nodes.find((node) => node.port === Number(row.port))?.name ?? `port ${row.port}`;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }

  /** Stops every node that still runs and removes the temp directory; never throws. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        await this.ctl(node, 'stop').catch(() => undefined);
        await killFromPidFile(join(node.dir, 'pid'));
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }

  async ctl(node: ClusterNode, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return exec(tool('rabbitmqctl'), ['-q', '-n', node.name, ...args], { env: this.env(node), timeout: 150_000 });
  }

  private env(node: ClusterNode): NodeJS.ProcessEnv {
    return {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      // The cookie lives in this HOME (server and CLI read it from there).
      HOME: this.dir,
      RABBITMQ_NODENAME: node.name,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(node.port),
      RABBITMQ_DIST_PORT: String(node.distPort),
      RABBITMQ_MNESIA_BASE: join(node.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(node.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(node.dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(node.dir, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(node.dir, 'enabled_plugins'),
      RABBITMQ_CONF_ENV_FILE: join(node.dir, 'rabbitmq-env.conf'),
      RABBITMQ_PID_FILE: join(node.dir, 'pid'),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      // Distribution on loopback only; no busy-waiting schedulers on a shared 2-core machine.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none',
    };
  }

  /**
   * Nodes left by a run that was killed before its teardown (their pid files), stopped and
   * removed; a cluster whose owning process still runs is left alone.
   */
  private static async removeLeftovers(): Promise<void> {
    const entries = await readdir(tmpdir()).catch(() => [] as string[]);
    for (const entry of entries.filter((name) => name.startsWith(DIR_PREFIX))) {
      const dir = join(tmpdir(), entry);
      const owner = Number((await readFile(join(dir, 'owner'), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) continue;
      const nodeDirs = await readdir(dir).catch(() => [] as string[]);
      for (const nodeDir of nodeDirs) await killFromPidFile(join(dir, nodeDir, 'pid'));
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** Kills the Erlang VM whose pid the node wrote, if it still runs, and waits until it is gone. */
async function killFromPidFile(file: string): Promise<void> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await waitFor(() => (alive(pid) ? null : true), 20_000, `RabbitMQ node pid ${pid} to exit`).catch(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
