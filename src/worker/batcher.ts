// The worker's micro-batcher: jobs that arrive within a few milliseconds of each other are applied
// together in one database transaction (one commit for many), each still succeeding or failing alone.
import type { Db } from '../db/client.js';
import { applyBatch, type BatchResult, type EventOutcome, type JobEvents } from '../db/ledger.js';
import { Group } from '../write-group.js';

export class LedgerBatcher {
  private readonly group: Group<JobEvents, BatchResult>;

  constructor(db: Db, maxSize = 25, maxWaitMs = 2) {
    this.group = new Group((jobs) => applyBatch(db, jobs), maxSize, maxWaitMs);
  }

  apply = async (job: JobEvents): Promise<EventOutcome[]> => {
    const r = await this.group.add(job);
    if (!r.ok) throw r.error;
    return r.outcomes;
  };
}
