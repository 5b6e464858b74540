import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * What the proxy does with the bytes: `pass` forwards them, `delay` forwards them late,
 * `blackhole` holds them (a cut cable: nothing arrives, nothing is refused, no FIN or RST
 * either) until the mode changes back, when they are delivered in order as TCP would.
 */
export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' };

interface Pipe {
  client: Socket;
  upstream: Socket | null;
  /** Held during a blackhole: bytes (to the upstream or to the client) and closes. */
  held: (() => void)[];
}

/** A TCP proxy between a service and RabbitMQ that can pass, delay or blackhole traffic. */
export class TcpProxy {
  private mode: ProxyMode = { kind: 'pass' };
  private readonly pipes = new Set<Pipe>();
  private server: Server | null = null;
  /** Connections the proxy has accepted since it started. */
  accepted = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode.kind === 'blackhole') return;
    for (const pipe of this.pipes) {
      const held = pipe.held.splice(0);
      for (const deliver of held) deliver();
    }
  }

  async close(): Promise<void> {
    for (const pipe of this.pipes) {
      pipe.client.destroy();
      pipe.upstream?.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Runs `action` now, later, or when the blackhole ends, following the mode. */
  private schedule(pipe: Pipe, action: () => void): void {
    const mode = this.mode;
    if (mode.kind === 'blackhole') pipe.held.push(action);
    else if (mode.kind === 'delay') setTimeout(() => (this.mode.kind === 'blackhole' ? pipe.held.push(action) : action()), mode.ms);
    else action();
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    const pipe: Pipe = { client, upstream: null, held: [] };
    this.pipes.add(pipe);
    client.setNoDelay(true);
    const finish = () => {
      this.pipes.delete(pipe);
      client.destroy();
      pipe.upstream?.destroy();
    };
    /** Bytes from the client before the upstream connection exists. */
    const early: Buffer[] = [];
    // The upstream connection itself waits for the network too.
    this.schedule(pipe, () => {
      if (client.destroyed) return finish();
      const upstream = createConnection(this.target);
      upstream.setNoDelay(true);
      pipe.upstream = upstream;
      upstream.on('data', (chunk: Buffer) => this.schedule(pipe, () => client.write(chunk)));
      upstream.on('close', () => this.schedule(pipe, finish));
      upstream.on('error', () => undefined);
      for (const chunk of early.splice(0)) upstream.write(chunk);
    });
    client.on('data', (chunk: Buffer) =>
      this.schedule(pipe, () => {
        if (pipe.upstream) pipe.upstream.write(chunk);
        else early.push(chunk);
      }),
    );
    client.on('close', () => this.schedule(pipe, finish));
    client.on('error', () => undefined);
  }
}
