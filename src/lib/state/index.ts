export { migrate, openState, SCHEMA_MIGRATIONS, StateDb, StateError } from './db.js';
export type {
  HostFact,
  LinkMeasurement,
  MigrationRecord,
  PhaseRecord,
  Placement,
  TaskRecord,
} from './tables.js';
