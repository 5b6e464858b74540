import type { Scenario } from '../harness/scenario';
import { brokerRestart } from './broker-restart';
import { memoryAlarm } from './memory-alarm';
import { networkCut } from './network-cut';
import { poisonMessage } from './poison-message';
import { postgresRestart } from './postgres-restart';
import { processorKills } from './processor-kills';
import { sigterm } from './sigterm';
import { slackOutage } from './slack-outage';

/** The eight scenarios of issue 11, in its order. */
export const SCENARIOS: readonly Scenario[] = [brokerRestart, processorKills, postgresRestart, poisonMessage, slackOutage, networkCut, memoryAlarm, sigterm];
