import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger, lazyChild } from './logger';

/** A logger at `level` writing its JSON lines into an array. */
function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('test', level, destination), lines };
}

describe('lazyChild', () => {
  it('writes the lines a pino child writes: its bindings and a nested lazy child with both', async () => {
    const { logger, lines } = capture('info');
    const base = lazyChild(logger, { groupId: 7, kind: 'firing' });
    base.info({ extra: 1 }, 'first');
    lazyChild(base, { ruleId: 3 }).warn('second');
    logger.child({ groupId: 7, kind: 'firing' }).info({ extra: 1 }, 'first');
    await new Promise((resolve) => setImmediate(resolve));
    const [lazyLine, nestedLine, eagerLine] = lines.map(({ time: _time, ...rest }) => rest);
    expect(lazyLine).toEqual(eagerLine);
    expect(lazyLine).toMatchObject({ service: 'test', groupId: 7, kind: 'firing', extra: 1, msg: 'first' });
    expect(nestedLine).toMatchObject({ service: 'test', groupId: 7, kind: 'firing', ruleId: 3, msg: 'second', level: 40 });
  });

  it('makes no pino child while nothing is written at an enabled level, and one when something is', () => {
    const { logger } = capture('warn');
    const child = vi.spyOn(logger, 'child');
    const base = lazyChild(logger, { groupId: 1 });
    const nested = lazyChild(base, { ruleId: 2 });
    base.debug('below the level');
    nested.info({ a: 1 }, 'below the level too');
    expect(child).not.toHaveBeenCalled();
    nested.warn('written');
    expect(child).toHaveBeenCalledTimes(1);
    expect(child).toHaveBeenCalledWith({ groupId: 1, ruleId: 2 });
    nested.error('written again, same child');
    expect(child).toHaveBeenCalledTimes(1);
  });

  it('redacts secrets in a lazy child as in any other', async () => {
    const { logger, lines } = capture('info');
    lazyChild(logger, { requestId: 'r1' }).info({ token: 'secret-value' }, 'with a token');
    await new Promise((resolve) => setImmediate(resolve));
    expect(JSON.stringify(lines)).not.toContain('secret-value');
    expect(lines[0]).toMatchObject({ requestId: 'r1', token: '[redacted]' });
  });
});
