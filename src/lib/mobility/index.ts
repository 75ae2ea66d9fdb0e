/** The mobility layer: where users are, what signal and data rate they get, and when they hand over. */
export {
  DEFAULT_HANDOVER_RULE,
  DEFAULT_HYSTERESIS_DB,
  decideHandover,
  type HandoverRule,
  nextHandovers,
  type PredictedHandover,
  type PredictOptions,
  predictNextHandover,
} from './handover.js';
export {
  dataRateBps,
  distanceM,
  MAX_RATE_BPS,
  RATE_TABLE_80211N,
  type RadioSite,
  type RateStep,
  rssiDbm,
  rssiMap,
} from './radio.js';
export { positionAt, type Segment, segmentAt, trajectoryPeriodS, walkTimeAt } from './trajectory.js';
