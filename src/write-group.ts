// Grouping writes that arrive close together: items collected for at most a millisecond or two (or
// up to a size) are written in one call, and each caller still learns its own outcome.

export type GroupOptions = {
  /** Items in one call at most. */
  maxSize?: number;
  /** How long the first item of a group waits for company while no call is running (0: not at all). */
  waitMs?: number;
  /**
   * Calls running at once at most. While that many run, new items wait and go together in the next
   * call the moment one ends: under load groups grow by themselves (one commit for many), while a
   * lone item on a quiet system still goes at once (with waitMs 0). Unbounded by default.
   */
  maxInFlight?: number;
};

/** A result of `run` for one item that failed on its own: that caller's promise rejects with `error`. */
export class ItemFailure {
  constructor(readonly error: unknown) {}
}

/** Collects items, then runs them in one call; see GroupOptions. */
export class Group<I, R> {
  private items: { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private readonly maxSize: number;
  private readonly waitMs: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly run: (items: I[]) => Promise<(R | ItemFailure)[]>,
    options: GroupOptions = {},
  ) {
    this.maxSize = options.maxSize ?? 64;
    this.waitMs = options.waitMs ?? 1;
    this.maxInFlight = options.maxInFlight ?? Infinity;
  }

  add(item: I): Promise<R> {
    return new Promise((resolve, reject) => {
      this.items.push({ item, resolve, reject });
      // at the limit: the call that ends next takes it
      if (this.inFlight >= this.maxInFlight) return;
      if (this.items.length >= this.maxSize || this.waitMs <= 0) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.waitMs);
    });
  }

  private flush() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.items.length && this.inFlight < this.maxInFlight) {
      const batch = this.items.splice(0, this.maxSize);
      this.inFlight++;
      this.run(batch.map((b) => b.item))
        .then(
          (results) =>
            batch.forEach((b, i) => {
              const r = results[i]!;
              if (r instanceof ItemFailure) b.reject(r.error);
              else b.resolve(r);
            }),
          (error: unknown) => batch.forEach((b) => b.reject(error)),
        )
        .finally(() => {
          this.inFlight--;
          // what waited while the calls ran goes now, together
          if (this.items.length) this.flush();
        });
    }
  }
}
