// A partner key the sale names that did not decide who earns is told as
// `attribution.ignored_partner_key`, on every branch of the attribution: the customer exists (linked
// or not), is created, or is neither; customer- and transaction-based programs; through the REST API
// (the ledger's one-by-one path) and a signed gateway webhook (the worker's set-based path). And an
// archived partner or customer: its new sales are recorded and earn nothing until it is restored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { gatewayEnv, paymentDelivery, type Sale } from '../support/deliveries.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_named_partner_key';
let svc: TestService;
let perSale: { id: string; apiKey: string };

const api = (method: string, path: string, body?: unknown, key = KEY) => callApi(svc.url, method, path, body, key);
let n = 0;
const sale = (body: Record<string, unknown>, key = KEY) => api('POST', '/v1/transactions', { key: `named-${++n}`, amount: 100, ...body }, key);

/** A payment from Stripe, signed, processed by the worker; its transaction as the API reads it. */
async function stripePaid(s: Omit<Sale, 'gateway' | 'n' | 'amountMinor' | 'currency'>) {
  const d = paymentDelivery({ gateway: 'stripe', n: 0, amountMinor: 5000n, currency: 'USD', ...s });
  const r = await svc.post('/webhooks/stripe', d.body, d.headers());
  expect(r.status).toBe(200);
  const row = await svc.settled('stripe', d.eventId);
  expect(row.status).toBe('processed');
  return (await api('GET', `/v1/transactions/pi_${s.id}`)).body.data;
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, ...gatewayEnv() });
  await createPartner(svc.db.db, svc.programId, 'NP_A');
  perSale = await createProgram(svc.db.db, { name: 'Transaction-based', attributionModel: 'transaction' });
  await createPartner(svc.db.db, perSale.id, 'NP_T');
});
afterAll(async () => {
  await svc?.stop();
});

describe('an unknown partner key is told as ignored on every branch', () => {
  it('REST, customer-based: a customer neither found nor created, created, unlinked, linked', async () => {
    const nobody = await sale({ customer: { key: 'np-none' }, partner: { key: 'INVALID_KEY' } });
    expect(nobody).toMatchObject({ status: 201, body: { data: { customer: null, partner: null } } });
    expect(nobody.body.data.attribution).toMatchObject({ customer_match: 'none', ignored_partner_key: 'INVALID_KEY', credited: null, reward_reason: 'no_partner' });

    const created = await sale({ customer: { key: 'np-new' }, partner: { key: 'INVALID_KEY' }, options: { create_customer: true } });
    expect(created.body.data).toMatchObject({ customer: 'np-new', partner: null });
    expect(created.body.data.attribution).toMatchObject({ customer_match: 'created', ignored_partner_key: 'INVALID_KEY', credited: null });

    const unlinked = await sale({ customer: { key: 'np-new' }, partner: { key: 'INVALID_KEY' } });
    expect(unlinked.body.data.attribution).toMatchObject({ customer_match: 'key', ignored_partner_key: 'INVALID_KEY', credited: null });

    await sale({ customer: { key: 'np-linked', partner: { key: 'NP_A' } }, options: { create_customer: true } });
    const linked = await sale({ customer: { key: 'np-linked' }, partner: { key: 'INVALID_KEY' } });
    expect(linked.body.data).toMatchObject({ partner: 'NP_A', attribution: { ignored_partner_key: 'INVALID_KEY', credited: { key: 'NP_A' } } });

    // a key that is used is not ignored
    const used = await sale({ customer: { key: 'np-used' }, partner: { key: 'NP_A' }, options: { create_customer: true } });
    expect(used.body.data).toMatchObject({ partner: 'NP_A', attribution: { ignored_partner_key: null } });
  });

  it('REST, transaction-based: falls back with the key told, whether the customer is created or not', async () => {
    const created = await sale({ customer: { key: 'tp-new' }, partner: { key: 'INVALID_KEY' }, options: { create_customer: true } }, perSale.apiKey);
    expect(created).toMatchObject({ status: 201, body: { data: { customer: 'tp-new', partner: null } } });
    expect(created.body.data.attribution).toMatchObject({ path: 'customer', fallback: 'unknown_partner_key', ignored_partner_key: 'INVALID_KEY' });
    const none = await sale({ customer: { key: 'tp-none' }, partner: { key: 'INVALID_KEY' } }, perSale.apiKey);
    expect(none.body.data.attribution).toMatchObject({ customer_match: 'none', fallback: 'unknown_partner_key', ignored_partner_key: 'INVALID_KEY' });
    const used = await sale({ customer: { key: 'tp-new' }, partner: { key: 'NP_T' } }, perSale.apiKey);
    expect(used.body.data.attribution).toMatchObject({ path: 'transaction', ignored_partner_key: null, credited: { key: 'NP_T' } });
  });

  it('a signed Stripe payment whose metadata names an unknown partner: a new customer, then a linked one', async () => {
    const fresh = await stripePaid({ id: 'np_w1', partnerKey: 'INVALID_KEY', customer: 9101 });
    expect(fresh).toMatchObject({ partner: null, rewards: [] });
    expect(fresh.attribution).toMatchObject({ customer_match: 'created', partner_key_place: 'stripe_payment_intent_metadata', ignored_partner_key: 'INVALID_KEY' });

    await stripePaid({ id: 'np_w2', partnerKey: 'NP_A', customer: 9102 });
    const linked = await stripePaid({ id: 'np_w3', partnerKey: 'INVALID_KEY', customer: 9102 });
    expect(linked).toMatchObject({ partner: 'NP_A', attribution: { customer_match: 'gateway_id', ignored_partner_key: 'INVALID_KEY' } });
  });
});

describe("a referral link's key names its partner", () => {
  it('in a signed webhook and a REST sale: the link\'s partner is credited, the key not ignored', async () => {
    const link = await api('POST', '/v1/partner_referral_links', { partner: { key: 'NP_A' }, key: 'np-spring' });
    expect(link.status).toBe(201);
    const hook = await stripePaid({ id: 'np_link1', partnerKey: 'np-spring', customer: 9501 });
    expect(hook).toMatchObject({ partner: 'NP_A', rewards: [{ partner: 'NP_A' }], attribution: { partner_key: 'np-spring', credited: { key: 'NP_A' }, ignored_partner_key: null } });
    const rest = await sale({ customer: { key: 'np-link-c' }, partner: { key: 'np-spring' }, options: { create_customer: true } });
    expect(rest.body.data).toMatchObject({ customer: 'np-link-c', partner: 'NP_A', attribution: { credited: { key: 'NP_A' }, ignored_partner_key: null } });
    // a deleted link names nobody
    await api('DELETE', '/v1/partner_referral_links/np-spring');
    const after = await stripePaid({ id: 'np_link2', partnerKey: 'np-spring', customer: 9502 });
    expect(after).toMatchObject({ partner: null, attribution: { ignored_partner_key: 'np-spring' } });
  });
});

describe('archived partners and customers earn nothing from new sales, until restored', () => {
  it('a partner: REST and a signed webhook record the sale, credit it, pay nothing, say why', async () => {
    await createPartner(svc.db.db, svc.programId, 'NP_ARCH');
    await sale({ customer: { key: 'arch-c', partner: { key: 'NP_ARCH' } }, options: { create_customer: true } });
    await stripePaid({ id: 'arch_w0', partnerKey: 'NP_ARCH', customer: 9201 });
    expect((await api('POST', '/v1/partners/NP_ARCH/archive')).body.data).toMatchObject({ status: 'archived' });

    const viaLink = await sale({ customer: { key: 'arch-c' } });
    expect(viaLink).toMatchObject({ status: 201, body: { data: { customer: 'arch-c', partner: 'NP_ARCH', rewards: [] } } });
    expect(viaLink.body.data.attribution).toMatchObject({ credited: { key: 'NP_ARCH' }, reward_reason: 'partner_archived' });
    const viaKey = await sale({ customer: { key: 'arch-new' }, partner: { key: 'NP_ARCH' }, options: { create_customer: true } });
    expect(viaKey.body.data).toMatchObject({ partner: 'NP_ARCH', rewards: [], attribution: { reward_reason: 'partner_archived', ignored_partner_key: null } });
    const webhook = await stripePaid({ id: 'arch_w1', partnerKey: 'NP_ARCH', customer: 9201 });
    expect(webhook).toMatchObject({ partner: 'NP_ARCH', rewards: [], attribution: { reward_reason: 'partner_archived' } });
    await createPartner(svc.db.db, perSale.id, 'NP_T_ARCH');
    await api('POST', '/v1/partners/NP_T_ARCH/archive', undefined, perSale.apiKey);
    const perSaleSale = await sale({ customer: { key: 'arch-t' }, partner: { key: 'NP_T_ARCH' }, options: { create_customer: true } }, perSale.apiKey);
    expect(perSaleSale.body.data).toMatchObject({ partner: 'NP_T_ARCH', rewards: [], attribution: { path: 'transaction', reward_reason: 'partner_archived' } });

    expect((await api('POST', '/v1/partners/NP_ARCH/revoke-archive')).body.data).toMatchObject({ status: 'active' });
    const restored = await sale({ customer: { key: 'arch-c' } });
    expect(restored.body.data).toMatchObject({ partner: 'NP_ARCH', rewards: [{ partner: 'NP_ARCH' }], attribution: { reward_reason: null } });
    const restoredHook = await stripePaid({ id: 'arch_w2', partnerKey: 'NP_ARCH', customer: 9201 });
    expect(restoredHook).toMatchObject({ partner: 'NP_ARCH', rewards: [{ partner: 'NP_ARCH' }] });
    // the sales made while archived stay unpaid
    expect((await api('GET', `/v1/transactions/${viaLink.body.data.key}`)).body.data.rewards).toEqual([]);
  });

  it('a customer: its sales earn its partner nothing while archived, REST and webhook alike', async () => {
    await stripePaid({ id: 'arch_c0', partnerKey: 'NP_A', customer: 9301 });
    await sale({ customer: { key: 'arch-cust', partner: { key: 'NP_A' } }, options: { create_customer: true } });
    expect((await api('POST', '/v1/customers/arch-cust/archive')).body.data).toMatchObject({ status: 'archived' });
    const stripeCustomer = (await api('GET', '/v1/transactions/pi_arch_c0')).body.data.customer as string;
    expect((await api('POST', `/v1/customers/${stripeCustomer}/archive`)).status).toBe(200);

    const rest = await sale({ customer: { key: 'arch-cust' } });
    expect(rest.body.data).toMatchObject({ customer: 'arch-cust', partner: 'NP_A', rewards: [], attribution: { reward_reason: 'customer_archived' } });
    const hook = await stripePaid({ id: 'arch_c1', partnerKey: 'NP_A', customer: 9301 });
    expect(hook).toMatchObject({ customer: stripeCustomer, partner: 'NP_A', rewards: [], attribution: { reward_reason: 'customer_archived' } });

    await api('POST', '/v1/customers/arch-cust/revoke-archive');
    const restored = await sale({ customer: { key: 'arch-cust' } });
    expect(restored.body.data).toMatchObject({ partner: 'NP_A', rewards: [{ partner: 'NP_A' }], attribution: { reward_reason: null } });
  });
});
