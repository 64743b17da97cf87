// Grouping writes that arrive close together: items collected for at most a millisecond or two (or
// up to a size) are written in one call, and each caller still learns its own outcome.

/** Collects items for at most `waitMs` (or `maxSize` items), then runs them in one call. */
export class Group<I, R> {
  private items: { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly maxSize = 64,
    private readonly waitMs = 1,
  ) {}

  add(item: I): Promise<R> {
    return new Promise((resolve, reject) => {
      this.items.push({ item, resolve, reject });
      if (this.items.length >= this.maxSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.waitMs);
    });
  }

  private flush() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.items.length) {
      const batch = this.items.splice(0, this.maxSize);
      this.run(batch.map((b) => b.item)).then(
        (results) => batch.forEach((b, i) => b.resolve(results[i]!)),
        (error: unknown) => batch.forEach((b) => b.reject(error)),
      );
    }
  }
}

