/**
 * Checks the dead letters the soak collected against the events it expected to be set aside: the
 * events larger than the bridge's body limit, each exactly once, refused with 413, and nothing else.
 */
import type { DeadLetter, DeadLetterApi, Logger } from '../../lib/index.ts';

/** The soak's event number, read from the event id (`$t<n>`) without parsing a 5 MB item. */
export function eventNumber(letter: DeadLetter): number | null {
  const match = /"event_id":"\$t(\d+)"/.exec(letter.json);
  return match === null ? null : Number(match[1]);
}

export interface DeadLetterVerdict {
  /** Oversize events set aside (once each). */
  readonly expected: number;
  /** Dead letters that are not an oversize event, or not the bridge's, or not a 413; with why. */
  readonly unexpected: string[];
  /** Oversize events set aside more than once. */
  readonly twice: number;
}

/**
 * @example
 * const verdict = checkDeadLetters(letters, new Set([17, 401]), 'bridge');
 * if (verdict.unexpected.length > 0) console.log(verdict.unexpected.join('\n'));
 */
export function checkDeadLetters(
  letters: readonly DeadLetter[],
  oversize: ReadonlySet<number>,
  bridgeId: string,
): DeadLetterVerdict {
  const times = new Map<number, number>();
  const unexpected: string[] = [];
  for (const letter of letters) {
    const n = eventNumber(letter);
    const why = `${letter.asId} ${letter.kind} ${n === null ? '(not a soak event)' : `$t${n}`} in ${letter.txnId}: ${letter.reason}`;
    if (
      letter.asId !== bridgeId ||
      letter.kind !== 'event' ||
      n === null ||
      !oversize.has(n) ||
      !/\b413\b/.test(letter.reason)
    ) {
      unexpected.push(why);
      continue;
    }
    times.set(n, (times.get(n) ?? 0) + 1);
  }
  const twice = [...times.values()].filter((count) => count > 1).length;
  return { expected: times.size, unexpected, twice };
}

/**
 * A logger that keeps the plugin's dead-letter warnings (as JSON), to check that none carries an
 * event's content; everything else is dropped.
 *
 * @example
 * const { logger, lines } = deadLetterLogRecorder();
 * await appservices({ ..., logger });
 */
export function deadLetterLogRecorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const noop = (): void => {};
  const warn = (fields: unknown, message?: string): void => {
    if (typeof message === 'string' && message.includes('dead letter')) lines.push(JSON.stringify(fields));
  };
  return { logger: { debug: noop, info: noop, error: noop, warn }, lines };
}

/**
 * Replays the AS's oldest dead letter and publishes one more event behind it (`publishBehind`):
 * refused again, the letter must be set aside again (from a new transaction) and the event behind
 * it delivered (`drained`). Returns what happened, or null when there was nothing to replay.
 */
export async function replayOldest(
  plugin: DeadLetterApi,
  asId: string,
  publishBehind: () => Promise<void>,
  drained: () => Promise<boolean>,
): Promise<{ ok: boolean } | null> {
  const before = await plugin.deadLetters(asId);
  const oldest = before[0];
  if (oldest === undefined) return null;
  await plugin.replayDeadLetter(asId, oldest.id);
  await publishBehind();
  const delivered = await drained();
  // Compared by txnId: SQLite may give the new letter the old one's id (a freed highest rowid).
  const after = await plugin.deadLetters(asId);
  return { ok: delivered && after.length === before.length && !after.some((l) => l.txnId === oldest.txnId) };
}
