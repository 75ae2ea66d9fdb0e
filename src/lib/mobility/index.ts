/** The mobility layer: where users are, what signal and data rate they get, and when they hand over. */
export {
  DEFAULT_HANDOVER_RULE,
  DEFAULT_HORIZON_S,
  DEFAULT_HYSTERESIS_DB,
  decideHandover,
  defaultHorizonS,
  defaultStepS,
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
  siteRssiDbm,
} from './radio.js';
export { shadowingDb } from './shadowing.js';
export {
  maxSpeed,
  motionEndS,
  nominalSpeed,
  positionAt,
  type Segment,
  segmentAt,
  trajectoryPeriodS,
  WALK_SEARCH_S,
  walkTimeAt,
  withSpeed,
} from './trajectory.js';
