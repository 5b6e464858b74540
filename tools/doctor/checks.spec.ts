import { describe, expect, it } from 'vitest';
import { amqpFailure } from './checks';

const refusedAt = (port: number) => Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), { code: 'ECONNREFUSED' });

describe('amqpFailure', () => {
  it('reads a refused connection as unreachable whatever digits its port holds (403 and 530 included)', () => {
    for (const port of [40343, 45301, 5403, 15530]) expect(amqpFailure(refusedAt(port), 1_000).reason).toBe('unreachable');
  });

  it("knows the broker's own refusals by their names, as amqplib writes them", () => {
    const login = new Error(
      'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."',
    );
    expect(amqpFailure(login, 1_000)).toEqual({ reason: 'credentials', message: `login refused (${login.message})` });
    const vhost = new Error('Connection closed: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost missing not found"');
    expect(amqpFailure(vhost, 1_000).reason).toBe('vhost');
    expect(amqpFailure(new Error('connect ETIMEDOUT'), 1_500).message).toBe('no AMQP handshake within 1500 ms');
  });
});
