export { migrate, openState, SCHEMA_MIGRATIONS, StateDb, StateError } from './db.js';
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
