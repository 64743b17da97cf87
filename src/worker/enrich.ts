// The enrich step: where a payment's partner key (or its payer's email) lives on an object the event
// only references, fetch those objects in order through the gateway's client, stopping at the first hit.
import type { PaymentFact } from '../core/payment-event.js';
import type { EnrichedPayment, LookupTrace } from '../core/plan.js';
import type { LookupClients } from '../gateways/gateway.js';

export async function enrichPayment(e: PaymentFact, programId: string, clients: LookupClients): Promise<EnrichedPayment> {
  const trace: LookupTrace[] = [];
  let { transactionKey, aliases } = e;
  if (e.keyFrom) {
    const client = await clients(programId, e.keyFrom.gateway);
    const key = client?.paymentKey ? await client.paymentKey(e.keyFrom) : null;
    trace.push({ place: 'payment_key', id: e.keyFrom.id, result: !client ? 'not_configured' : key ? 'found' : 'not_found' });
    if (key && key !== transactionKey) {
      aliases = [transactionKey, ...aliases.filter((a) => a !== key)];
      transactionKey = key;
    }
  }
  let partnerKey = e.partnerKey;
  let email = e.customer.email;
  for (const l of e.lookups) {
    const wantKey = !partnerKey;
    const wantEmail = !email && l.object === 'customer';
    if (!wantKey && !wantEmail) continue;
    const client = await clients(programId, l.gateway);
    if (!client) {
      trace.push({ place: l.place, id: l.id, result: 'not_configured' });
      continue;
    }
    // an EnrichmentError propagates: transient ones are retried with backoff
    const found = await client.lookup(l);
    if (!found) {
      trace.push({ place: l.place, id: l.id, result: 'not_found' });
      continue;
    }
    if (wantKey && found.partnerKey) {
      partnerKey = { value: found.partnerKey, place: l.place };
      trace.push({ place: l.place, id: l.id, result: 'found' });
    } else if (wantKey) {
      trace.push({ place: l.place, id: l.id, result: 'no_key' });
    }
    if (!email && found.email) email = found.email;
  }
  // the codes of discounts the event names by id only: a partner's code is the next step after a key
  // (looked up whether or not a key was found: the key may name nobody)
  let coupons = e.coupons;
  for (const l of e.couponLookups ?? []) {
    const client = await clients(programId, l.gateway);
    if (!client?.couponCodes) {
      trace.push({ place: 'coupon', id: l.id, result: 'not_configured' });
      continue;
    }
    const codes = await client.couponCodes(l);
    trace.push({ place: 'coupon', id: l.id, result: codes === null ? 'not_found' : codes.length ? 'found' : 'no_key' });
    if (codes?.length) coupons = [...new Set([...(coupons ?? []), ...codes])].slice(0, 20);
  }
  return { ...e, transactionKey, aliases, partnerKey, coupons, customer: { ...e.customer, email }, lookupTrace: trace };
}
