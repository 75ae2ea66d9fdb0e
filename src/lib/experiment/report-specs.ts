/**
 * The report's figures as vega-lite specs, built by pure functions from rows; one file per figure family
 * in figures/: common (colours, order, outage categories), paper (Fig. 4, Fig. 5), handover (Fig. 6 and its
 * aligned view), distribution (E2E ECDF), outages (by cause, migration phases), timeline (a run), users (per user, capacity).
 */
export { orderPlanners, PLANNER_ORDER } from './compare.js';
export * from './figures/common.js';
export * from './figures/distribution.js';
export * from './figures/handover.js';
export * from './figures/outages.js';
export * from './figures/paper.js';
export * from './figures/timeline.js';
export * from './figures/users.js';
export { PAPER_PLANNER_ORDER, paperOrder } from './planner-order.js';
