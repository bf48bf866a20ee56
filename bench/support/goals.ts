/**
 * The goal rows of `npm run bench`. A bench reports each goal it measures with `reportGoal()`,
 * which prints the row at once (`GOAL <row>: <figure> (goal <goal>) MET|MISSED`), and
 * `npm run bench` repeats every row in one table at the end, so the whole run's verdicts can be
 * read (and copied into the README) from one place.
 */

export interface GoalRow {
  /** Which measurement, e.g. `push (a) publish→ack vs raw`. */
  readonly row: string;
  /** The measured figure as printed, e.g. `0.83`. */
  readonly figure: string;
  /** The goal as printed, e.g. `>= 0.80`. */
  readonly goal: string;
  readonly met: boolean;
}

const rows: GoalRow[] = [];

/**
 * Prints one goal line and records it for the summary.
 *
 * @example
 * reportGoal({ row: 'query (a) uncached ensureAlias vs raw GET', figure: '1.06×', goal: '<= 1.10×', met: ratio <= 1.1 });
 */
export function reportGoal(row: GoalRow): void {
  rows.push(row);
  console.log(`  GOAL ${formatGoal(row)}`);
}

/** Every goal reported so far in this process, in order. */
export function reportedGoals(): readonly GoalRow[] {
  return rows;
}

export function formatGoal(row: GoalRow): string {
  return `${row.row}: ${row.figure} (goal ${row.goal}) ${row.met ? 'MET' : 'MISSED'}`;
}
