// The payment job processor: enrich → attribute → commission → persist, with failures a person can read.
import { UnrecoverableError, type Job } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import type { PaymentFact } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import type { Queryable } from '../db/client.js';
import { applyEvents, isStoredPayment, LedgerDataError, type EventOutcome, type JobEvents, type LedgerEvent } from '../db/ledger.js';
import { webhookEvents } from '../db/schema.js';
import { EnrichmentError, type LookupClients } from '../gateways/gateway.js';
import type { PaymentJobData } from '../queue/queues.js';
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
  if (!program) throw new LedgerDataError(`payload: program ${data.programId} does not exist`);
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
  return !!e.keyFrom || e.lookups.some((l) => !e.partnerKey || (!e.customer.email && l.object === 'customer'));
}

function isPermanent(err: unknown): boolean {
  return (
    err instanceof UnrecoverableError ||
    err instanceof LedgerDataError ||
    (err instanceof EnrichmentError && !err.transient)
  );
}

export function paymentProcessor(deps: ProcessDeps) {
  return async (data: PaymentJobData, job: Job<unknown>): Promise<EventOutcome[]> => {
    try {
      return await processPayment(deps, data);
    } catch (err) {
      const attempts = job.opts.attempts ?? 1;
      const permanent = isPermanent(err);
      const last = permanent || job.attemptsMade + 1 >= attempts;
      let reason = (err as Error).message || String(err);
      // a retry from the dashboard runs once more: count what was really tried
      const tried = Math.max(attempts, job.attemptsMade + 1);
      if (last && !permanent) reason = `${reason} (after ${tried} attempt${tried === 1 ? '' : 's'})`;
      if (data.inboxId) {
        await deps.db
          .update(webhookEvents)
          .set({
            attempts: sql`${webhookEvents.attempts} + 1`,
            lastError: reason,
            ...(last ? { status: 'failed' as const } : {}),
          })
          .where(eq(webhookEvents.id, BigInt(data.inboxId)))
          .catch(() => {}); // Postgres may be the thing that is down; the job's own record remains
      }
      if (permanent) throw new UnrecoverableError(reason);
      throw new Error(reason, { cause: err });
    }
  };
}
