/**
 * Group commit: writes asked for in the same turn of the event loop share one database
 * transaction. A durable commit costs an fsync; paying it once per group instead of once per
 * `publish()` is what keeps the store from being the bottleneck when many events arrive at once.
 *
 * Writes are collected until `setImmediate` (so callers that reach `add()` through a few awaits
 * still join the group), committed together, and every caller's promise settles after the
 * commit: all resolve, or all reject with the commit's error. While an asynchronous commit is
 * running, new writes gather for the next one.
 */
export class GroupCommit<T> {
  readonly #commit: (values: readonly T[]) => void | Promise<void>;
  #pending: { value: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  #running: Promise<void> | null = null;
  #scheduled = false;

  /** @param commit writes all the values in one transaction, or throws having written none. */
  constructor(commit: (values: readonly T[]) => void | Promise<void>) {
    this.#commit = commit;
  }

  /**
   * Joins the next group; resolves once that group is committed.
   *
   * @example
   * ```ts
   * const group = new GroupCommit<string>((rows) => db.transaction(() => rows.forEach(insert))());
   * await Promise.all([group.add('a'), group.add('b')]); // one transaction
   * ```
   */
  add(value: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ value, resolve, reject });
      this.#schedule();
    });
  }

  /** Commits whatever is pending now and waits until no commit is running. */
  async flush(): Promise<void> {
    while (this.#running || this.#pending.length > 0) {
      if (!this.#running) this.#start();
      await this.#running;
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#running || this.#pending.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#start();
    });
  }

  #start(): void {
    if (this.#running || this.#pending.length === 0) return;
    this.#running = this.#drain().finally(() => {
      this.#running = null;
      // A write may have arrived between the drain's last look and now.
      this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const group = this.#pending;
      this.#pending = [];
      try {
        await this.#commit(group.map((entry) => entry.value));
      } catch (err) {
        for (const entry of group) entry.reject(err);
        continue;
      }
      for (const entry of group) entry.resolve();
    }
  }
}
