// The worker's batch path: many jobs in one database transaction. Each run of payments goes through
// the planner in one read and one write (ledger-payments.ts), so events of one batch see each other
// exactly as they would one by one; runs of refunds go through the refunds planner (ledger-refunds.ts).
// Refunds and disputes run after the payments of their segment, and a payment that names one of them
// starts a new segment so it sees it waiting, as it would one event at a time.
import { PlanFailure } from '../core/plan.js';
import type { RefundFact } from '../core/payment-event.js';
import type { Db } from './client.js';
import {
  lock,
  lockNames,
  tryLock,
  type BatchResult,
  type EnrichedPayment,
  type EventOutcome,
  type JobEvents,
  type LedgerEvent,
  type Tx,
} from './ledger-base.js';
import { markProcessedMany } from './inbox.js';
import { applyPayments } from './ledger-payments.js';
import { applyRefundEvents, applyRefundsStanding } from './ledger-refunds.js';
import { recordDispute } from './ledger-reversals.js';

/** A job of the batch failed on its own (bad data): take it out and apply the others again. */
class JobFailure extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super('job failed');
  }
}

/**
 * Apply jobs in one database transaction, each all-or-nothing (see applyBatch). `fallback` applies
 * jobs one statement at a time: it takes over when the batch fails for a reason no single job can
 * be blamed for (a write refused by a concurrent change the batch did not lock out), so the
 * isolation contract holds whatever happens.
 */
export async function applyBatchSetBased(
  db: Db,
  jobs: JobEvents[],
  now: Date,
  fallback: (db: Db, jobs: JobEvents[], now: Date) => Promise<BatchResult[]>,
): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(jobs.length);
  const namesOf = (i: number) => jobs[i]!.events.flatMap((e) => lockNames(jobs[i]!.program.id, e));
  let pending = jobs.map((_, i) => i);
  // whether the next transaction waits for its locks instead of trying them
  let wait = false;
  while (pending.length) {
    try {
      const { outcomes, deferred } = await db.transaction(async (tx) => {
        let run = pending;
        let deferred: number[] = [];
        if (wait || pending.length === 1) {
          await lock(tx, pending.flatMap(namesOf));
        } else {
          // Another batch (another worker process) holding some of these locks would make this whole
          // batch wait for its commit. Instead the jobs it blocks are deferred to a transaction of
          // their own, after this one, and the rest go now.
          const busy = await tryLock(tx, pending.flatMap(namesOf));
          if (busy.size) {
            ;({ run, deferred } = splitBusy(pending, namesOf, busy));
            // none free: start again waiting, in the global order (this transaction's locks go with it)
            if (!run.length) throw new AllBusy();
          }
        }
        const outcomes = await applyJobs(tx, run.map((i) => ({ index: i, job: jobs[i]! })), now);
        return { outcomes, deferred };
      });
      for (const [i, o] of outcomes) results[i] = { ok: true, outcomes: o };
      pending = deferred;
      wait = false;
    } catch (error) {
      if (error instanceof AllBusy) {
        wait = true;
        continue;
      }
      if (error instanceof JobFailure) {
        results[error.index] = { ok: false, error: error.error };
        pending = pending.filter((i) => i !== error.index);
        continue;
      }
      if (serverRefuses(sqlState(error))) {
        // the server takes no writes now (read-only after a failover, disk full, shutting down): no job
        // is to blame, and trying them one by one would fail each in turn, a transaction apiece. All of
        // them fail at once, and are retried with backoff.
        for (const i of pending) results[i] = { ok: false, error };
        pending = [];
        continue;
      }
      if (sqlState(error) === STATEMENT_CANCELED) {
        // cut by statement_timeout: most likely one job's statement sleeps or waits (a poisoned job).
        // One transaction per job, in order: it then hangs again holding only its own locks, and every
        // other job commits, instead of all of them waiting on it once more in one transaction.
        for (const i of pending) results[i] = (await fallback(db, [jobs[i]!], now))[0]!;
        pending = [];
        continue;
      }
      // nobody to blame: apply the remaining jobs the one-at-a-time way, which isolates them itself
      const rest = await fallback(db, pending.map((i) => jobs[i]!), now);
      pending.forEach((i, k) => (results[i] = rest[k]!));
      pending = [];
    }
  }
  return results;
}

class AllBusy extends Error {}

/** SQLSTATE 57014, query_canceled: statement_timeout (or a cancel request) cut a statement. */
const STATEMENT_CANCELED = '57014';

/**
 * SQLSTATEs that say the server, not a statement, is the problem: 25006 (read-only transaction: a
 * standby, or default_transaction_read_only), class 08 (connection exception), 53 (insufficient
 * resources: disk full, out of memory, too many connections), 57P (shutting down, starting up) and 58
 * (system error: I/O).
 */
function serverRefuses(state: string | undefined): boolean {
  return !!state && (state === '25006' || /^(08|53|57P|58)/.test(state));
}

/** The SQLSTATE of a pg error, or of the one drizzle wrapped. */
function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The jobs that can go now, and the deferred ones: those needing a lock held elsewhere, and every
 * later job sharing a lock with a deferred one (so events of one payment or customer keep their order).
 */
export function splitBusy(pending: number[], namesOf: (i: number) => string[], busy: Set<string>): { run: number[]; deferred: number[] } {
  const blocked = new Set(busy);
  const run: number[] = [];
  const deferred: number[] = [];
  for (const i of pending) {
    const names = namesOf(i);
    if (names.some((n) => blocked.has(n))) {
      deferred.push(i);
      for (const n of names) blocked.add(n);
    } else run.push(i);
  }
  return { run, deferred };
}

type Item = { job: number; seq: number; e: LedgerEvent };
type Segment = { payments: (Item & { e: EnrichedPayment })[]; others: Item[] };

/** Runs of payments, each followed by the refunds and disputes that came among them. */
export function segmentsOf(items: Item[], programOf: (job: number) => string): Segment[] {
  const segments: Segment[] = [];
  let current: Segment = { payments: [], others: [] };
  let deferredRefs = new Set<string>();
  for (const it of items) {
    const p = programOf(it.job);
    if (it.e.kind === 'payment') {
      const refs = [it.e.transactionKey, ...it.e.aliases].map((r) => `${p}|${r}`);
      // it must see a refund or dispute that came before it: that one runs first
      if (refs.some((r) => deferredRefs.has(r))) {
        segments.push(current);
        current = { payments: [], others: [] };
        deferredRefs = new Set();
      }
      current.payments.push(it as Item & { e: EnrichedPayment });
    } else {
      current.others.push(it);
      for (const r of it.e.paymentRefs) deferredRefs.add(`${p}|${r}`);
    }
  }
  segments.push(current);
  return segments.filter((s) => s.payments.length || s.others.length);
}

async function applyJobs(tx: Tx, jobs: { index: number; job: JobEvents }[], now: Date): Promise<Map<number, EventOutcome[]>> {
  const items: Item[] = [];
  const outcomes = new Map<number, EventOutcome[]>();
  for (const { index, job } of jobs) {
    outcomes.set(index, new Array(job.events.length));
    job.events.forEach((e, seq) => items.push({ job: index, seq, e }));
  }
  const programs = new Map(jobs.map(({ index, job }) => [index, job.program]));
  const programOf = (i: number) => programs.get(i)!;
  for (const seg of segmentsOf(items, (i) => programOf(i).id)) {
    if (seg.payments.length) {
      try {
        const done = await applyPayments(tx, seg.payments.map((it) => ({ at: it, e: it.e, program: programOf(it.job) })), now);
        for (const [it, o] of done) outcomes.get(it.job)![it.seq] = o;
      } catch (error) {
        if (error instanceof PlanFailure) throw new JobFailure((error.at as Item).job, error.error);
        throw error;
      }
    }
    // refunds in runs through the refunds planner; a dispute between them keeps its place in the order
    let run: (Item & { e: RefundFact })[] = [];
    const flush = async () => {
      if (!run.length) return;
      try {
        const done = await applyRefundEvents(tx, run.map((it) => ({ at: it, programId: programOf(it.job).id, e: it.e })), now);
        for (const [it, o] of done) outcomes.get(it.job)![it.seq] = o;
      } catch (error) {
        if (error instanceof PlanFailure) throw new JobFailure((error.at as Item).job, error.error);
        throw error;
      }
      run = [];
    };
    for (const it of seg.others) {
      if (it.e.kind === 'refund') {
        run.push(it as Item & { e: RefundFact });
        continue;
      }
      await flush();
      try {
        outcomes.get(it.job)![it.seq] =
          it.e.kind === 'refunds_standing'
            ? await applyRefundsStanding(tx, programOf(it.job).id, it.e, now)
            : await recordDispute(tx, programOf(it.job), it.e as never, now, true);
      } catch (error) {
        throw new JobFailure(it.job, error instanceof PlanFailure ? error.error : error);
      }
    }
    await flush();
  }
  const inbox = jobs.flatMap(({ index, job }) => (job.inboxId ? [{ id: job.inboxId, outcome: outcomes.get(index) }] : []));
  await markProcessedMany(tx, inbox, now);
  return outcomes;
}
