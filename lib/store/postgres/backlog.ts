/** PostgresStore's `backlog`: the AS's queued rows (those of its stored transactions included) and the oldest one's enqueue time. */
import type { Backlog } from '../store.ts';
import type { StoreTables } from './connection.ts';

/**
 * @example
 * ```ts
 * const { size, oldestEnqueuedAt } = await readBacklog(tables, 'irc');
 * ```
 */
export async function readBacklog({ pool, t }: StoreTables, asId: string): Promise<Backlog> {
  const {
    rows: [row],
  } = await pool.query<{ size: string; oldest: string | null }>(
    `SELECT count(*) AS size,
            (SELECT enqueued_at FROM ${t('queue')} WHERE as_id = $1 ORDER BY seq LIMIT 1) AS oldest
     FROM ${t('queue')} WHERE as_id = $1`,
    [asId],
  );
  const size = Number(row?.size ?? 0);
  return { size, oldestEnqueuedAt: size > 0 && row?.oldest != null ? Number(row.oldest) : null };
}
