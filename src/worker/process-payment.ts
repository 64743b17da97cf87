// The payment job processor: enrich → attribute → commission → persist, with failures a person can read.
import { UnrecoverableError, type Job } from 'bullmq';
import type { PaymentFact } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import type { Queryable } from '../db/client.js';
import { recordAttemptFailed } from '../db/inbox.js';
import { applyEvents, isStoredPayment, LedgerDataError, type EventOutcome, type JobEvents, type LedgerEvent } from '../db/ledger.js';
import { EnrichmentError, type LookupClients } from '../gateways/gateway.js';
import type { PaymentJobData } from '../queue/queues.js';
import { abortable, PAYMENT_JOB_MAX_STALLS } from '../queue/worker.js';
import { enrichPayment } from './enrich.js';

export type ProcessDeps = {
  /** The pool's handle, or (the replay's dry run) a transaction's. */
  db: Queryable;
  programs: (programId: string) => Promise<ProgramRules | null>;
  clients: LookupClients;
  /** How the events reach the ledger: one transaction per job by default, or a batcher's. */
  apply?: (job: JobEvents) => Promise<EventOutcome[]>;
};

/** Run one job's events; the same function serves the worker and, called in a request, the REST API. */
export async function processPayment(deps: ProcessDeps, data: PaymentJobData): Promise<EventOutcome[]> {
  const program = await deps.programs(data.programId);
  if (!program) throw new LedgerDataError(`program ${data.programId} does not exist`);
  const events: LedgerEvent[] = [];
  for (const e of data.events) {
    // a payment already stored (another event of it, a redelivery) merges as it is: no API calls
    // (only asked when enriching would call an API: otherwise enriching costs nothing)
    const known = e.kind === 'payment' && needsLookups(e) && (await isStoredPayment(deps.db, program.id, [e.transactionKey, ...e.aliases]));
    events.push(e.kind === 'payment' && !known ? await enrichPayment(e, program.id, deps.clients) : e);
  }
  if (deps.apply) return deps.apply({ program, events, inboxId: data.inboxId });
  return applyEvents(deps.db, program, events, { inboxId: data.inboxId });
}

/** Whether enriching the payment would call a gateway API (see enrichPayment). */
function needsLookups(e: PaymentFact): boolean {
  return !!e.keyFrom || !!e.couponLookups?.length || e.lookups.some((l) => !e.partnerKey || (!e.customer.email && l.object === 'customer'));
}

function isPermanent(err: unknown): boolean {
  return (
    err instanceof UnrecoverableError ||
    err instanceof LedgerDataError ||
    err instanceof WorkerDiedError ||
    (err instanceof EnrichmentError && !err.transient)
  );
}

/**
 * What went wrong, for the job's failed reason, its inbox row and the log. A database error is said by
 * PostgreSQL's message and SQLSTATE (`database: canceling statement due to statement timeout (SQLSTATE
 * 57014)`), not by drizzle's wrapper, whose message is the whole statement and its parameters: customer
 * data, and nothing a person could read.
 */
export function reasonOf(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause as { code?: unknown; message?: unknown } | undefined;
  if (err instanceof Error && err.message.startsWith('Failed query:') && cause && typeof cause.message === 'string') {
    return `database: ${cause.message}${typeof cause.code === 'string' ? ` (SQLSTATE ${cause.code})` : ''}`;
  }
  const code = (err as { code?: unknown } | null)?.code;
  // pg's own errors (statements sent without drizzle) carry the SQLSTATE too
  if (err instanceof Error && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && 'severity' in err) {
    return `database: ${err.message} (SQLSTATE ${code})`;
  }
  return (err as Error)?.message || String(err);
}

/** A job whose worker died under it more than PAYMENT_JOB_MAX_STALLS times: not run again. */
export class WorkerDiedError extends Error {
  override name = 'WorkerDiedError';
}

/**
 * Whether the job is written alone, in its own database transaction instead of a batch: its worker died
 * under it twice (once is any crash's lot: a deploy, an OOM, and a thousand jobs come back at once, in
 * batches again), or its last attempt failed for a reason of its own (a statement cut by
 * statement_timeout, its deadline, an exception). A poisoned job then costs nobody else anything on
 * its retries, and the jobs that only shared its batch when it killed the worker are written at their
 * next runs, whatever it does again: they never reach PAYMENT_JOB_MAX_STALLS. A job that failed
 * because the store was down (read-only, unreachable, out of connections) goes back into batches:
 * after an outage thousands do.
 */
export function runsAlone(job: Pick<Job<unknown>, 'attemptsMade' | 'stalledCounter' | 'failedReason'>): boolean {
  return (job.stalledCounter ?? 0) >= 2 || (job.attemptsMade > 0 && !storeWasDown(job.failedReason ?? ''));
}

/** Whether a failure reason (reasonOf's) says the store was unavailable, not that the job went wrong. */
export function storeWasDown(reason: string): boolean {
  const state = /\(SQLSTATE ([0-9A-Z]{5})\)/.exec(reason)?.[1];
  // read-only (a failover's standby), connection exceptions, insufficient resources, shutting down, I/O
  if (state) return state === '25006' || /^(08|53|57P|58)/.test(state);
  // no SQLSTATE: the server never answered (refused, dropped, or no connection free in the pool)
  return /connection terminated|connection error|ECONNREFUSED|ECONNRESET|timeout exceeded when trying to connect|Connection ended/i.test(reason);
}

/** Jobs written alone at once by one worker process at most: the rest wait their turn, not the pool's. */
export const ALONE_AT_ONCE = 8;

/** A queue of turns: at most `free` calls run at once. */
class Lane {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      // its deadline passed while it waited: the job has been failed already, nothing to write
      if (signal?.aborted) throw signal.reason;
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export function paymentProcessor(deps: ProcessDeps) {
  const alone = new Lane(ALONE_AT_ONCE);
  return async (data: PaymentJobData, job: Job<unknown>, signal?: AbortSignal): Promise<EventOutcome[]> => {
    try {
      const stalls = job.stalledCounter ?? 0;
      // failed that way before, and retried by a person (the dashboard) without dying since: it runs
      const retriedSince = Number(/^the worker died (\d+) times/.exec(job.failedReason ?? '')?.[1] ?? -1) >= stalls;
      if (stalls > PAYMENT_JOB_MAX_STALLS && !retriedSince) {
        // it ran alone since its second stall, so it is most likely what killed the worker each time
        throw new WorkerDiedError(`the worker died ${stalls} times while running this job; it is not run again (replay it once the cause is fixed)`);
      }
      const own: ProcessDeps = runsAlone(job)
        ? { ...deps, apply: (j) => alone.run(() => applyEvents(deps.db, j.program, j.events, { inboxId: j.inboxId }), signal) }
        : deps;
      const work = processPayment(own, data);
      return await (signal ? abortable(work, signal) : work);
    } catch (err) {
      const attempts = job.opts.attempts ?? 1;
      const permanent = isPermanent(err);
      const last = permanent || job.attemptsMade + 1 >= attempts;
      let reason = reasonOf(err);
      // a retry from the dashboard runs once more: count what was really tried
      const tried = Math.max(attempts, job.attemptsMade + 1);
      if (last && !permanent) reason = `${reason} (after ${tried} attempt${tried === 1 ? '' : 's'})`;
      if (data.inboxId) {
        // Postgres may be the thing that is down; the job's own record remains
        await recordAttemptFailed(deps.db, BigInt(data.inboxId), reason, last).catch(() => {});
      }
      if (permanent) throw new UnrecoverableError(reason);
      throw new Error(reason, { cause: err });
    }
  };
}
