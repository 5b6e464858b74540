/**
 * One or more fault scenarios on their own, with a printed summary each:
 *   npx tsx tools/faults/run.ts                 # all nine, in order
 *   npx tsx tools/faults/run.ts broker-restart  # one (names: see scenarios/index.ts)
 * Needs `npm run build` first. Stops and restarts the local RabbitMQ and PostgreSQL: run it
 * alone, never beside other test suites.
 */
import { formatReport, runScenario } from './harness/scenario';
import { SCENARIOS } from './scenarios/index';

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((scenario) => scenario.name).join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const scenario of SCENARIOS.filter((s) => wanted.length === 0 || wanted.includes(s.name))) {
  const report = await runScenario(scenario);
  console.log(formatReport(report));
  if (!report.checks.every((check) => check.ok)) failed += 1;
}
process.exit(failed > 0 ? 1 : 0);
