/**
 * edgectl as a library: `import { loadInventory, migrate, plan } from 'edgectl'`. The entry points the
 * commands themselves call, each taking the inventory, an SSH pool and the state database where it needs
 * them; what is not exported here is internal and may change without notice.
 *
 * In it: the inventory (hosts.yml loaded and checked with file:line:column errors, the topology model, the
 * JSON Schema, init and validate), the SSH pool and executors, the state database, the local lab, services
 * (deploy, undeploy, logs), the migration (one call holding the user's lock, or the pipeline's steps),
 * the mobility models (walks, path loss with shadowing, handover prediction), the mobile user's agent and
 * handovers, planning (snapshot, plan input, planners), experiments, status,
 * and the errors (every failure an EdgectlError with a stable code and its exit code).
 */

export {
  type DeployRequest,
  type DeployResult,
  deploy,
  type UndeployResult,
  undeploy,
} from './lib/docker/deploy.js';
export { type LogsRequest, type LogsResult, serviceLogs } from './lib/docker/logs.js';
export { type Envelope, errorEnvelope, successEnvelope } from './lib/envelope.js';
export {
  EdgectlError,
  type EdgectlErrorOptions,
  ExitCode,
  InterruptedError,
  UsageError,
} from './lib/errors.js';
export {
  type ExperimentOptions,
  type ExperimentResult,
  resumeExperiment,
  runExperiment,
} from './lib/experiment/run.js';
export * from './lib/inventory/index.js';
export { type InitRequest, type InitResult, initInventory, type TemplateKind } from './lib/inventory/init.js';
export { inventoryJsonSchema } from './lib/inventory/json-schema.js';
export { type ValidateResult, validateInventory } from './lib/inventory/validate.js';
export {
  type LabOptions,
  type LabStatus,
  labDown,
  labStatus,
  labUp,
} from './lib/lab/lab.js';
export {
  Migration,
  MigrationError,
  type MigrationRequest,
  type MigrationResult,
  migrate,
  type PhaseEvent,
  STRATEGIES,
  type Strategy,
} from './lib/migration/pipeline.js';
export {
  dataRateBps,
  decideHandover,
  nextHandovers,
  positionAt,
  predictNextHandover,
  rssiDbm,
  rssiMap,
  segmentAt,
  shadowingDb,
  trajectoryPeriodS,
  walkTimeAt,
} from './lib/mobility/index.js';
export { buildSnapshot } from './lib/monitor/snapshot.js';

export {
  AgentSession,
  type HandoverRequest,
  type HandoverResult,
  handoverUser,
  type StartAgentOptions,
  startAgent,
} from './lib/mu/controller.js';
export { type AnswerCheck, checkAnswer } from './lib/planner/check.js';
export {
  type PlannerAnswer,
  PlannerError,
  type PlannerFunction,
  type PlannerRequest,
  type PlannerSpec,
  parsePlannerSpec,
  plannerAnswerSchema,
  plannerRequestSchema,
  splitCommand,
} from './lib/planner/custom.js';
export { runExecPlanner } from './lib/planner/exec.js';
export { type PlanInput, parsePlanInput, planInputFrom } from './lib/planner/input.js';
export { plannerAnswerJsonSchema, plannerRequestJsonSchema } from './lib/planner/json-schema.js';
export { PLANNERS, type PlannerName, type PlanOptions, type PlanResult, plan } from './lib/planner/plan.js';
export {
  type Executor,
  HostUnreachableError,
  LocalExecutor,
  RemoteCommandError,
  type RunOptions,
  type RunResult,
  SshPool,
  shellJoin,
  shellQuote,
} from './lib/remote/index.js';
export { openState, StateDb, StateError } from './lib/state/index.js';

export { type StatusResult, testbedStatus } from './lib/status/status.js';
