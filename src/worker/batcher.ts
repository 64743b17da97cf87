// A micro-batcher: jobs that arrive within a few milliseconds of each other are applied together in
// one database transaction (one commit for many), each still succeeding or failing on its own.
import type { Db } from '../db/client.js';
import { applyBatch, type EventOutcome, type JobEvents } from '../db/ledger.js';

type Waiting = { job: JobEvents; resolve: (o: EventOutcome[]) => void; reject: (e: unknown) => void };

export class LedgerBatcher {
  private queue: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly maxSize = 25,
    private readonly maxWaitMs = 2,
  ) {}

  apply = (job: JobEvents): Promise<EventOutcome[]> =>
    new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      if (this.queue.length >= this.maxSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });

  private flush() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxSize);
      applyBatch(
        this.db,
        batch.map((w) => w.job),
      ).then(
        (results) =>
          results.forEach((r, i) => {
            if (r.ok) batch[i]!.resolve(r.outcomes);
            else batch[i]!.reject(r.error);
          }),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      );
    }
  }
}
