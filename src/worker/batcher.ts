// The worker's micro-batcher: jobs that arrive while a batch is being written are applied together
// in the next database transaction (one commit for many), each still succeeding or failing alone.
import type { Db } from '../db/client.js';
import { applyBatch, type BatchResult, type EventOutcome, type JobEvents } from '../db/ledger.js';
import { Group } from '../write-group.js';

export class LedgerBatcher {
  private readonly group: Group<JobEvents, BatchResult>;

  /**
   * One batch at a time by default: a job that arrives while a batch is being written waits for the
   * next one, which takes everything that came meanwhile (up to maxSize). Under load batches grow by
   * themselves (and concurrent batches would mostly wait for each other's locks anyway); on a quiet
   * system a job is written at once, alone.
   */
  constructor(db: Db, options: { maxSize?: number; waitMs?: number; maxInFlight?: number } = {}) {
    this.group = new Group((jobs) => applyBatch(db, jobs), { maxSize: options.maxSize ?? 200, waitMs: options.waitMs ?? 0, maxInFlight: options.maxInFlight ?? 1 });
  }

  apply = async (job: JobEvents): Promise<EventOutcome[]> => {
    const r = await this.group.add(job);
    if (!r.ok) throw r.error;
    return r.outcomes;
  };
}
