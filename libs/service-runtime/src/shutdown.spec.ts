import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';
import { serviceLifecycle, STOP_SIGNALS, type LifecycleProcess } from './shutdown';

/** A stand-in for the process: signals are emitted by the test, exit codes recorded. */
function fakeProcess() {
  const signals = new EventEmitter();
  const exits: number[] = [];
  let exited: (code: number) => void = () => undefined;
  const exitedOnce = new Promise<number>((resolve) => (exited = resolve));
  const host: LifecycleProcess = {
    once: (signal, listener) => signals.once(signal, listener),
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
  };
  return { host, signals, exits, exitedOnce };
}

const logger = createLogger('lifecycle-test', 'silent');

describe('serviceLifecycle', () => {
  for (const signal of STOP_SIGNALS) {
    it(`on ${signal}: runs the steps in the order added, says it is stopping, and exits 0`, async () => {
      const { host, signals, exits, exitedOnce } = fakeProcess();
      const lifecycle = serviceLifecycle(logger, { process: host });
      const ran: string[] = [];
      const seenStopping: boolean[] = [];
      lifecycle.onStop({ name: 'http', run: async () => (seenStopping.push(lifecycle.stopping()), ran.push('http')) });
      lifecycle.onStop({ name: 'broker', run: async () => ran.push('broker') }, { name: 'database', run: async () => ran.push('database') });
      expect(lifecycle.stopping()).toBe(false);
      signals.emit(signal);
      expect(await exitedOnce).toBe(0);
      expect(ran).toEqual(['http', 'broker', 'database']);
      expect(seenStopping).toEqual([true]);
      expect(exits).toEqual([0]);
    });
  }

  it('runs the steps once when both signals come', async () => {
    const { host, signals, exits, exitedOnce } = fakeProcess();
    const lifecycle = serviceLifecycle(logger, { process: host });
    let runs = 0;
    lifecycle.onStop({ name: 'broker', run: async () => void runs++ });
    signals.emit('SIGTERM');
    signals.emit('SIGINT');
    await exitedOnce;
    expect(runs).toBe(1);
    expect(exits).toEqual([0]);
  });

  it('goes on past a failing step and still exits 0', async () => {
    const { host, signals, exitedOnce } = fakeProcess();
    const lifecycle = serviceLifecycle(logger, { process: host });
    const ran: string[] = [];
    lifecycle.onStop({ name: 'broker', run: () => Promise.reject(new Error('already closed')) }, { name: 'database', run: async () => ran.push('database') });
    signals.emit('SIGTERM');
    expect(await exitedOnce).toBe(0);
    expect(ran).toEqual(['database']);
  });

  it('exits 1 when a step hangs past the deadline', async () => {
    const { host, signals, exitedOnce } = fakeProcess();
    const lifecycle = serviceLifecycle(logger, { process: host, deadlineMs: 50 });
    lifecycle.onStop({ name: 'stuck', run: () => new Promise(() => undefined) });
    signals.emit('SIGTERM');
    expect(await exitedOnce).toBe(1);
  });
});
