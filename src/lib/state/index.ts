export {
  INSTANCE_ID_RE,
  migrate,
  openState,
  readState,
  SCHEMA_MIGRATIONS,
  StateDb,
  StateError,
} from './db.js';
export type { DecisionRecord, NewDecision } from './decisions.js';
export { Decisions } from './decisions.js';
export { type ExperimentRecord, Experiments } from './experiments.js';
export type { JournalEntry, JournalOwner, StepRecord, StepStatus } from './journal.js';
export { Journals } from './journal.js';
export type {
  GapRecord,
  HandoverRecord,
  HostFact,
  HostStat,
  LinkMeasurement,
  MigrationRecord,
  PhaseRecord,
  Placement,
  TaskRecord,
  UserReport,
} from './tables.js';
