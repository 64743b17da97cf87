// Transaction-based attribution's per-partner customer records, as a merchant reads them: a gateway's
// customer is named as Partnero's seed names it (Stripe `cus_123` with PARTNER_A is
// `stripe_cus_123__pkey_PARTNER_A`), a REST customer by its key; records under the older name
// (`cus_123__pkey_PARTNER_A`) are still found, so no payer gets a second one; GET /v1/customers lists
// them by partner and finds them by the key the merchant knows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi } from '../support/api.js';
import { gatewayEnv, paymentDelivery } from '../support/deliveries.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_per_partner_key';
let svc: TestService;
const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);
const keys = (r: { body: { data: { key: string }[] } }) => r.body.data.map((c) => c.key).sort();

async function stripePaid(id: string, customer: number, partnerKey: string) {
  const d = paymentDelivery({ gateway: 'stripe', id, n: 0, amountMinor: 5000n, currency: 'USD', partnerKey, customer });
  expect((await svc.post('/webhooks/stripe', d.body, d.headers())).status).toBe(200);
  expect((await svc.settled('stripe', d.eventId)).status).toBe('processed');
  return (await api('GET', `/v1/transactions/pi_${id}`)).body.data;
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, ...gatewayEnv() });
  expect((await api('PATCH', '/v1/program', { attribution_model: 'transaction' })).status).toBe(200);
  await createPartner(svc.db.db, svc.programId, 'PARTNER_A');
  await createPartner(svc.db.db, svc.programId, 'PARTNER_B');
});
afterAll(async () => {
  await svc?.stop();
});

describe('per-partner customer records', () => {
  it('a Stripe customer: stripe_cus_…__pkey_PARTNER, listed by partner, found by the Stripe id', async () => {
    const first = await stripePaid('pp_1', 401, 'PARTNER_A');
    expect(first).toMatchObject({ customer: 'stripe_cus_401__pkey_PARTNER_A', partner: 'PARTNER_A', attribution: { path: 'transaction', customer_match: 'created' } });
    const again = await stripePaid('pp_2', 401, 'PARTNER_A');
    expect(again).toMatchObject({ customer: 'stripe_cus_401__pkey_PARTNER_A', attribution: { customer_match: 'per_partner_record' } });
    await stripePaid('pp_3', 401, 'PARTNER_B');

    expect(keys(await api('GET', '/v1/customers?partner_key=PARTNER_A'))).toEqual(['stripe_cus_401__pkey_PARTNER_A']);
    expect(keys(await api('GET', '/v1/customers?key=cus_401'))).toEqual(['stripe_cus_401__pkey_PARTNER_A', 'stripe_cus_401__pkey_PARTNER_B']);
    expect(keys(await api('GET', '/v1/customers?key=cus_401&partner_key=PARTNER_B'))).toEqual(['stripe_cus_401__pkey_PARTNER_B']);
  });

  it('a record under the older name is found by the payment (the webhook path), no second one made', async () => {
    await svc.db.pool.query(
      `insert into customers (program_id, key, gateway, gateway_customer_id, per_partner, partner_id)
       select $1, 'cus_402__pkey_PARTNER_A', 'stripe', 'cus_402', true, id from partners where program_id = $1 and key = 'PARTNER_A'`,
      [svc.programId],
    );
    const t = await stripePaid('pp_4', 402, 'PARTNER_A');
    expect(t).toMatchObject({ customer: 'cus_402__pkey_PARTNER_A', partner: 'PARTNER_A', attribution: { customer_match: 'per_partner_record' } });
    expect(keys(await api('GET', '/v1/customers?key=cus_402'))).toEqual(['cus_402__pkey_PARTNER_A']);
  });

  it('a REST customer: customer_123__pkey_PARTNER, listed by partner, found by the key the merchant sent', async () => {
    const sale = (key: string, partner: string) =>
      api('POST', '/v1/transactions', { key, amount: 40, customer: { key: 'customer_123' }, partner: { key: partner }, options: { create_customer: true } });
    expect((await sale('pp-rest-1', 'PARTNER_A')).body.data).toMatchObject({ customer: 'customer_123__pkey_PARTNER_A', partner: 'PARTNER_A' });
    expect((await sale('pp-rest-2', 'PARTNER_A')).body.data).toMatchObject({ customer: 'customer_123__pkey_PARTNER_A', attribution: { customer_match: 'per_partner_record' } });

    expect(keys(await api('GET', '/v1/customers?key=customer_123'))).toEqual(['customer_123__pkey_PARTNER_A']);
    expect((await api('GET', '/v1/customers/customer_123')).body.data).toMatchObject({ key: 'customer_123__pkey_PARTNER_A', partner: 'PARTNER_A' });
    expect(keys(await api('GET', '/v1/customers?partner_key=PARTNER_A'))).toEqual(['cus_402__pkey_PARTNER_A', 'customer_123__pkey_PARTNER_A', 'stripe_cus_401__pkey_PARTNER_A']);
  });
});
