// The summary `npm start` prints once its services are ready (or its wait is over): what runs
// where, whether it is ready, and what to do next. A pure function, so that it can be tested.

/**
 * @param {import('./summary.d.mts').StartSummary} summary
 * @param {{ color?: boolean }} [options]
 * @returns {string}
 */
export function formatSummary(summary, { color = false } = {}) {
  const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const { services, seconds } = summary;
  const ready = services.filter((service) => service.ready);
  const width = Math.max(...services.map((service) => service.name.length), 'console'.length);
  const urlWidth = Math.max(...services.map((service) => service.url.length));
  const lines = [
    ready.length === services.length
      ? paint(32, `SentryHub is running: ${services.length} services ready after ${seconds} s`)
      : paint(
          33,
          `SentryHub: ${ready.length} of ${services.length} services ready after ${seconds} s; the others are still starting or waiting for a dependency`,
        ),
  ];
  for (const service of services) {
    const state = service.ready ? `${paint(32, 'ready')}    ` : paint(31, 'not ready');
    const reasons =
      service.ready || !service.reasons || Object.keys(service.reasons).length === 0
        ? ''
        : `  (${Object.entries(service.reasons)
            .map(([component, reason]) => `${component}: ${reason}`)
            .join('; ')})`;
    lines.push(`  ${service.name.padEnd(width)}  ${service.url.padEnd(urlWidth)}  ${state}${service.note ? `  ${service.note}` : ''}${reasons}`.trimEnd());
  }
  if (summary.consoleUrl) lines.push(`  ${'console'.padEnd(width)}  ${summary.consoleUrl}`);
  if (summary.intake) {
    lines.push(
      summary.intake.open
        ? '  intake:   open (WEBHOOK_ALLOW_ANONYMOUS=true); set WEBHOOK_TOKENS to require a token'
        : '  intake:   requires one of WEBHOOK_TOKENS (Authorization: Bearer <token>)',
    );
  }
  if (summary.apiKey) lines.push(`  API key:  ${apiKeyAdvice(summary.apiKey)}`);
  lines.push('  next:     npm run demo (in another terminal)    stop: Ctrl-C');
  return `${lines.join('\n')}\n`;
}

/** @param {import('./summary.d.mts').ApiKeyState} state */
function apiKeyAdvice(state) {
  switch (state.kind) {
    case 'bootstrap':
      return 'ADMIN_BOOTSTRAP_KEY is an admin key (the "bootstrap" key): sign in to the console with it, or send Authorization: Bearer <ADMIN_BOOTSTRAP_KEY>';
    case 'exists':
      return `${state.count} API key${state.count === 1 ? '' : 's'} already exist${state.count === 1 ? 's' : ''}: sign in with one, or have an admin create one (console, API keys)`;
    case 'none':
      return 'none yet: stop with Ctrl-C and run `ADMIN_BOOTSTRAP_KEY=<a secret of 16+ characters> npm start`, then sign in to the console with that secret';
    case 'unknown':
      return `could not count the API keys (${state.reason}); ADMIN_BOOTSTRAP_KEY=<a secret of 16+ characters> creates the first admin key`;
    default:
      return '';
  }
}
