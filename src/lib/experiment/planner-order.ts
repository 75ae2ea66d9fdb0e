/**
 * The order in which figures and tables show the planners: the paper's (its Fig. 4-6 panels are cloud,
 * random, nearest, orchestrated), then any other (an outside planner) in the order given: the experiment's
 * --planner order, which the results keep. Display only: the verdict's comparisons pair the
 * planners in compare.ts's PLANNER_ORDER (orchestrated first), so their signs do not move with this.
 */
export const PAPER_PLANNER_ORDER = ['cloud', 'random', 'nearest', 'orchestrated'] as const;

export function paperOrder(planners: Iterable<string>): string[] {
  const set = new Set(planners);
  const known: string[] = PAPER_PLANNER_ORDER.filter((p) => set.has(p));
  return [...known, ...[...set].filter((p) => !known.includes(p))];
}
