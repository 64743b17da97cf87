// Realistic ~3 KB Stripe events (payment_intent.succeeded, basil), unique per request, signed as
// Stripe signs them.
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

// from bench/ or from the bench's compiled copy in .bench-build/bench/
const FIXTURE = 'test/fixtures/stripe/payment_intent.succeeded.json';
const fixture = ['../', '../../'].map((up) => new URL(up + FIXTURE, import.meta.url)).find((u) => existsSync(u));
if (!fixture) throw new Error(`${FIXTURE} not found`);
const template = JSON.parse(readFileSync(fixture, 'utf8'));
// pad the metadata so the body is about 3 KB, as real events with a few expanded fields are
template.data.object.metadata = { ...template.data.object.metadata, order_note: 'x'.repeat(1200) };

/** The n-th event of a run: its own event id, payment intent, customer (and email) and partner. */
export function stripeBody(run: string, n: number, customerRun = run, partners = 20): string {
  const e = structuredClone(template);
  e.id = `evt_${run}_${n}`;
  const pi = e.data.object;
  pi.id = `pi_${run}_${n}`;
  pi.latest_charge = `ch_${run}_${n}`;
  // 5,000 customers, each with its own email (one email shared by every buyer would make them all one person)
  pi.customer = `cus_${customerRun}_${n % 5000}`;
  pi.receipt_email = `buyer_${customerRun}_${n % 5000}@bench.example.com`;
  pi.metadata.partner_key = `bench_partner_${n % partners}`;
  return JSON.stringify(e);
}

export function stripeSignature(body: string, secret: string, at = Math.floor(Date.now() / 1000)): string {
  return `t=${at},v1=${createHmac('sha256', secret).update(`${at}.${body}`).digest('hex')}`;
}
