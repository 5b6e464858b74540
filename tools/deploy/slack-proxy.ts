import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './app-contracts';

/** What docker/nginx/slack-proxy.conf says that the deployment files must agree with. */
export interface SlackProxyConf {
  listenPort: number;
  /** The location slack-notifier posts to, e.g. `/slack-proxy/`. */
  proxyPath: string;
  /** Variables the nginx image's envsubst must find in the container's environment. */
  templateVariables: string[];
}

/** NGINX_LOCAL_RESOLVERS is not given by us: the image's entrypoint exports it when NGINX_ENTRYPOINT_LOCAL_RESOLVERS=1. */
export const ENTRYPOINT_PROVIDED: Record<string, { variable: string; value: string }> = {
  NGINX_LOCAL_RESOLVERS: { variable: 'NGINX_ENTRYPOINT_LOCAL_RESOLVERS', value: '1' },
};

export function readSlackProxyConf(): SlackProxyConf {
  const text = readFileSync(join(ROOT, 'docker', 'nginx', 'slack-proxy.conf'), 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('\n');
  const listen = text.match(/^\s*listen\s+(\d+)\s*;/m);
  // Each location block runs until the next `location`; the one that proxies is Slack's.
  const blocks = text.split(/^\s*location\s+/m).slice(1);
  const location = blocks.filter((block) => /\bproxy_pass\b/.test(block)).map((block) => block.split(/[\s{]/)[0] ?? '');
  if (!listen?.[1] || location.length !== 1 || !location[0])
    throw new Error('docker/nginx/slack-proxy.conf: expected one `listen <port>;` and one location with proxy_pass');
  const templateVariables = [...new Set([...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)].map((match) => match[1] ?? ''))].filter(Boolean).sort();
  return { listenPort: Number(listen[1]), proxyPath: location[0], templateVariables };
}
