// What the measures start from and feed the queue with: programs and partners, a mix of payment
// events, their jobs, and the wait until the queue has none left.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { PaymentFact, RefundFact, type PaymentEventInput } from '../src/core/payment-event.js';
import { paymentJobId, paymentJobOptions } from '../src/queue/queues.js';
import { programIds, sql } from './database.js';
import { run } from './options.js';

async function seedPartners(programId: string, n = 20) {
  await sql.query(
    `insert into partners (program_id, key) select $1, 'bench_partner_' || g from generate_series(0, $2 - 1) g on conflict do nothing`,
    [programId, n],
  );
}

/** Partners for the default program and for a transaction-based one (for the worker mix); the default program's id. */
export async function seedPrograms(): Promise<string> {
  const [def] = await programIds();
  await seedPartners(def!.id);
  const second = (await sql.query(`insert into programs (slug, name, attribution_model, commission, public_key, signing_secret) values ($1, 'bench transaction-based', 'transaction', '{"type":"percent","value":"10","rules":[],"lifetime":{"kind":"all"}}', $2, 's') returning id`, [`tb_${run}`, `pk_tb_${run}`])).rows[0].id;
  await seedPartners(second);
  return def!.id;
}

/** n payment events of a mix: 90% payments (new and returning customers), 10% refunds of earlier ones. */
export function mixedEvents(tag: string, n: number): PaymentEventInput[] {
  const out: PaymentEventInput[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 10 === 9) {
      out.push(RefundFact.parse({ kind: 'refund', gateway: 'stripe', eventId: `evt_rf_${tag}_${i}`, eventType: 'refund.created', occurredAt: new Date().toISOString(), refundId: `re_${tag}_${i}`, paymentRefs: [`pi_${tag}_${i - 1}`], amount: { minor: '1000', currency: 'USD' } }));
      continue;
    }
    out.push(
      PaymentFact.parse({
        kind: 'payment',
        gateway: 'stripe',
        eventId: `evt_${tag}_${i}`,
        eventType: 'payment_intent.succeeded',
        occurredAt: new Date().toISOString(),
        transactionKey: `pi_${tag}_${i}`,
        aliases: [`ch_${tag}_${i}`],
        amount: { minor: String(1000 + (i % 9000)), currency: 'USD' },
        // a returning customer every other time
        customer: { id: `cus_${tag}_${i % 2 ? i : Math.floor(i / 7)}`, email: `buyer${i}@bench.example.com` },
        partnerKey: { value: `bench_partner_${i % 20}`, place: 'stripe_payment_intent_metadata' },
      }),
    );
  }
  return out;
}

export async function enqueue(queue: Queue, programs: string[], events: PaymentEventInput[]) {
  for (let i = 0; i < events.length; i += 1000) {
    await queue.addBulk(
      events.slice(i, i + 1000).map((e, j) => {
        // a refund goes to the program of the payment just before it
        const programId = programs[(e.kind === 'refund' ? i + j - 1 : i + j) % programs.length]!;
        return { name: 'stripe', data: { programId, source: 'webhook', events: [e] }, opts: { ...paymentJobOptions, jobId: paymentJobId(programId, 'stripe', e.eventId) } };
      }),
    );
  }
}

/** Waits until no job is left; `onPoll` hears how many are left at each look (every 100 ms). */
export async function drained(queue: Queue, timeoutMs: number, onPoll?: (left: number) => void) {
  const started = Date.now();
  for (;;) {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    const left = Object.values(c).reduce((a, b) => a + b, 0);
    onPoll?.(left);
    if (left === 0) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`queue not drained: ${JSON.stringify(c)}`);
    await sleep(100);
  }
}
