/**
 * The newest queue rows of each AS, kept in memory as they are committed, so that creating a
 * transaction takes its items from here instead of reading them back from SQLite.
 *
 * Reading a row back costs about as much as writing it (a B-tree step and a new string for its
 * JSON), and on the path from publish to acknowledgement almost every row is read back within
 * milliseconds of being written. What is kept for an AS is always a complete run: every committed
 * row from its first kept seq up to the AS's newest one, in seq order, exactly as stored (a queued
 * row never changes). So a creation that starts at or after the first kept seq finds every row it
 * could take here, and one that starts before it reads SQLite as before.
 *
 * Only committed rows are added (a rolled-back enqueue's seqs are handed out again); dropping rows
 * is always safe, since it only sends a creation back to SQLite. Bounded by CACHED_CHARS in all:
 * an AS whose rows would go over it loses its run, and starts a new one with a later enqueue.
 */
import type { QueuedItem } from '../store.ts';

/** JSON characters kept in all ASes' runs (about this many bytes: the JSON is mostly ASCII). */
const CACHED_CHARS = 8 * 2 ** 20;

/** One AS's run: `items[start..]` are its rows from `items[start].seq` up to its newest. */
interface Run {
  items: QueuedItem[];
  start: number;
  chars: number;
}

/**
 * @example
 * const tail = new QueueTail();
 * tail.append('irc', [{ seq: 1, kind: 'event', json: '{}' }]); // after the enqueue committed
 * const rows = tail.from('irc', 1); // { items, index }: items[index..] are the rows from seq 1 on
 * tail.dropThrough('irc', 1); // acknowledged
 */
export class QueueTail {
  readonly #runs = new Map<string, Run>();
  #chars = 0;

  /**
   * Adds the AS's rows just committed, oldest first; the first follows the AS's newest row.
   * A run that would not stay contiguous, or that would go over the budget, is dropped.
   */
  append(asId: string, rows: readonly QueuedItem[]): void {
    if (rows.length === 0) return;
    let run = this.#runs.get(asId);
    const last = run === undefined ? undefined : run.items[run.items.length - 1];
    if (run !== undefined && (last === undefined || last.seq + 1 !== rows[0]!.seq)) {
      this.forget(asId);
      run = undefined;
    }
    let chars = 0;
    for (const row of rows) chars += row.json.length;
    if (this.#chars + chars > CACHED_CHARS) {
      this.forget(asId);
      return;
    }
    if (run === undefined) {
      run = { items: [], start: 0, chars: 0 };
      this.#runs.set(asId, run);
    }
    for (const row of rows) run.items.push(row);
    run.chars += chars;
    this.#chars += chars;
  }

  /**
   * The AS's rows from `seq` on, as `items[index..]`, when the run holds that seq (or starts right
   * after its newest row: then there are none); undefined when SQLite must be read.
   */
  from(asId: string, seq: number): { readonly items: readonly QueuedItem[]; readonly index: number } | undefined {
    const run = this.#runs.get(asId);
    if (run === undefined || run.start >= run.items.length) return undefined;
    const index = run.start + (seq - run.items[run.start]!.seq);
    if (index < run.start || index > run.items.length) return undefined;
    return { items: run.items, index };
  }

  /** Drops the AS's rows up to `seq` (acknowledged, or set aside). */
  dropThrough(asId: string, seq: number): void {
    const run = this.#runs.get(asId);
    if (run === undefined) return;
    while (run.start < run.items.length && run.items[run.start]!.seq <= seq) {
      const chars = run.items[run.start]!.json.length;
      run.chars -= chars;
      this.#chars -= chars;
      run.start++;
    }
    if (run.start === run.items.length) {
      this.#runs.delete(asId);
    } else if (run.start > 1024 && run.start * 2 > run.items.length) {
      // Compacted now and then, not at every drop: the front is dropped a transaction at a time.
      run.items = run.items.slice(run.start);
      run.start = 0;
    }
  }

  /** Drops the AS's whole run: its rows are read from SQLite until a later enqueue starts a new one. */
  forget(asId: string): void {
    const run = this.#runs.get(asId);
    if (run === undefined) return;
    this.#chars -= run.chars;
    this.#runs.delete(asId);
  }
}
