// The enrich step: where a payment's partner key (or its payer's email) lives on an object the event
// only references, fetch those objects in order through the gateway's client, stopping at the first hit.
import type { PaymentFact } from '../core/payment-event.js';
import type { EnrichedPayment, LookupTrace } from '../db/ledger.js';
import type { LookupClients } from '../gateways/gateway.js';

export async function enrichPayment(e: PaymentFact, programId: string, clients: LookupClients): Promise<EnrichedPayment> {
  let partnerKey = e.partnerKey;
  let email = e.customer.email;
  const trace: LookupTrace[] = [];
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
  return { ...e, partnerKey, customer: { ...e.customer, email }, lookupTrace: trace };
}
