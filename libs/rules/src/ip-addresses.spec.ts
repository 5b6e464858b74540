import { describe, expect, it } from 'vitest';
import { replaceIpAddresses } from './ip-addresses';

describe('replaceIpAddresses', () => {
  it('replaces IPv4 addresses, keeping ports, prefixes and punctuation', () => {
    expect(replaceIpAddresses('host 10.0.0.1 is down')).toBe('host IP is down');
    expect(replaceIpAddresses('instance=192.168.1.254:9100')).toBe('instance=IP:9100');
    expect(replaceIpAddresses('route 10.0.0.0/8.')).toBe('route IP/8.');
    expect(replaceIpAddresses('peers 10.0.0.1,255.255.255.255 (0.0.0.0)')).toBe('peers IP,IP (IP)');
    expect(replaceIpAddresses('see http://10.0.0.1:9090/graph')).toBe('see http://IP:9090/graph');
    expect(replaceIpAddresses('node-10.1.2.3 and ip_10.1.2.4')).toBe('node-IP and ip_IP');
  });

  it('replaces IPv6 addresses in every text form', () => {
    expect(replaceIpAddresses('2001:0db8:85a3:0000:0000:8a2e:0370:7334')).toBe('IP');
    expect(replaceIpAddresses('from 2001:db8::1 to ::1')).toBe('from IP to IP');
    expect(replaceIpAddresses('[2001:db8::1]:8080')).toBe('[IP]:8080');
    expect(replaceIpAddresses('addr:2001:db8::42')).toBe('addr:IP');
    expect(replaceIpAddresses('net 2001:db8:: and fe80::1%eth0 up')).toBe('net IP and IP up');
    expect(replaceIpAddresses('mapped ::ffff:10.0.0.1 and 64:ff9b::192.0.2.33')).toBe('mapped IP and IP');
  });

  it('leaves what only looks like an address alone', () => {
    for (const text of [
      '256.1.1.1',
      'version 1.2.3.4.5 and v1.2.3.4',
      'at 12:30:45, 2026-11-26T08:00:00Z',
      'mac 00:1a:2b:3c:4d:5e',
      'std::vector and Error::Timeout',
      'a :: b',
      '1:2:3:4:5:6:7:8:9',
      'nginx 1.22.1',
    ]) {
      expect(replaceIpAddresses(text)).toBe(text);
    }
  });

  it('takes another replacement, and stays fast on long colon and dot runs', () => {
    expect(replaceIpAddresses('10.0.0.1 and ::1', '<ip>')).toBe('<ip> and <ip>');
    const started = Date.now();
    replaceIpAddresses(`${'1:2:3:4:5:6:7:'.repeat(3_000)}${'1.'.repeat(10_000)}${':'.repeat(10_000)}`);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
