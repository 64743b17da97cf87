// Holds and caps a merchant sets on a program (PATCH /v1/program `fraud`, `caps`): a self-referral and
// a partner with too many refunds are held in review until POST /v1/rewards/{key}/release|reject; a
// cap per customer or per partner and month cuts a reward and says so. Through the REST API and a
// signed Stripe webhook (the worker's batch path), as a merchant meets them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { gatewayEnv, paymentDelivery } from '../support/deliveries.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_reward_limits_key';
let svc: TestService;
let n = 0;
const api = (method: string, path: string, body?: unknown, key = KEY) => callApi(svc.url, method, path, body, key);

/** A program of its own (so its settings do not leak into the other tests), with partner LP. */
async function program(settings: Record<string, unknown>) {
  const p = await createProgram(svc.db.db, { name: `limits ${++n}`, commission: { type: 'percent', value: '10', rules: [], lifetime: { kind: 'all' } } });
  await createPartner(svc.db.db, p.id, 'LP', { email: 'Ann.Partner@Example.com' });
  const patched = await api('PATCH', '/v1/program', settings, p.apiKey);
  expect(patched.status).toBe(200);
  const sale = (body: Record<string, unknown>) =>
    api('POST', '/v1/transactions', { key: `lim-${++n}`, amount: 100, partner: { key: 'LP' }, options: { create_customer: true }, ...body }, p.apiKey);
  return { ...p, sale, api: (method: string, path: string, body?: unknown) => api(method, path, body, p.apiKey) };
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, ...gatewayEnv() });
});
afterAll(async () => {
  await svc?.stop();
});

describe('holds', () => {
  it('a payer with the partner’s own email (any case, a +tag) is held until released; a released reward is paid', async () => {
    const p = await program({});
    const own = await p.sale({ customer: { key: 'self-1', email: 'ann.partner+shop@example.COM' } });
    expect(own.status).toBe(201);
    const [held] = own.body.data.rewards;
    expect(held).toMatchObject({ status: 'review_period', hold_reason: 'self_referral', review_ends_at: null, amount: 10 });
    const other = await p.sale({ customer: { key: 'buyer-1', email: 'someone@example.com' } });
    expect(other.body.data.rewards[0]).toMatchObject({ status: 'ok', hold_reason: null });

    const released = await p.api('POST', `/v1/rewards/${held.key}/release`);
    expect(released).toMatchObject({ status: 200, body: { data: { status: 'ok', hold_reason: null } } });
    expect((await p.api('POST', `/v1/rewards/${held.key}/release`)).body).toMatchObject({ status: 0, error: { code: 'reward_not_held' } });
    expect((await p.api('POST', '/v1/rewards/rw_nope/reject')).status).toBe(404);
    const read = await p.api('GET', `/v1/transactions/${own.body.data.key}`);
    expect(read.body.data.rewards[0]).toMatchObject({ status: 'ok', hold_reason: null });
    // another program's key cannot answer this program's hold
    const again = await p.sale({ customer: { key: 'self-2', email: 'ann.partner@example.com' } });
    const heldAgain = again.body.data.rewards[0];
    expect((await api('POST', `/v1/rewards/${heldAgain.key}/reject`)).status).toBe(404);
    expect((await p.api('POST', `/v1/rewards/${heldAgain.key}/reject`)).body.data).toMatchObject({ status: 'rejected', hold_reason: 'self_referral' });
  });

  it('self_referral_hold: false pays a self-referral as any sale', async () => {
    const p = await program({ fraud: { self_referral_hold: false } });
    const own = await p.sale({ customer: { key: 'self-off', email: 'ann.partner@example.com' } });
    expect(own.body.data.rewards[0]).toMatchObject({ status: 'ok', hold_reason: null });
  });

  it('a partner whose refunded share of the window passes the rate has its new rewards held', async () => {
    const p = await program({ fraud: { refund_rate_hold: { rate: '0.25', days: 30, min_payments: 3 } } });
    const sales = [];
    for (let i = 0; i < 3; i++) sales.push((await p.sale({ customer: { key: `rr-${i}` } })).body.data);
    expect(sales.map((s) => s.rewards[0].hold_reason)).toEqual([null, null, null]);
    // one of three refunded: a third, above a quarter
    expect((await p.api('DELETE', `/v1/transactions/${sales[0].key}`)).status).toBe(200);
    const after = await p.sale({ customer: { key: 'rr-next' } });
    expect(after.body.data.rewards[0]).toMatchObject({ status: 'review_period', hold_reason: 'refund_rate' });
  });
});

describe('caps', () => {
  it('max_per_customer cuts the reward that passes it and pays nothing past it (capped_from, reward_reason capped)', async () => {
    const p = await program({ caps: { max_per_customer: { USD: '25' } } });
    const first = await p.sale({ customer: { key: 'cap-c' }, amount: 200 });
    expect(first.body.data.rewards[0]).toMatchObject({ amount: 20, capped_from: null });
    const second = await p.sale({ customer: { key: 'cap-c' }, amount: 200 });
    expect(second.body.data.rewards[0]).toMatchObject({ amount: 5, capped_from: '20' });
    const third = await p.sale({ customer: { key: 'cap-c' }, amount: 200 });
    expect(third.body.data).toMatchObject({ rewards: [], attribution: { reward_reason: 'capped' } });
    // another customer has a cap of its own; another currency is not capped (never converted)
    expect((await p.sale({ customer: { key: 'cap-d' }, amount: 200 })).body.data.rewards[0]).toMatchObject({ amount: 20 });
    expect((await p.sale({ customer: { key: 'cap-c' }, amount: 200, amount_units: 'eur' })).body.data.rewards[0]).toMatchObject({ amount: 20, capped_from: null });
  });

  it('max_per_partner_per_month counts by calendar month; a partner’s own cap replaces the program’s', async () => {
    const p = await program({ caps: { max_per_partner_per_month: { USD: '30' }, partners: { LP2: { max_per_partner_per_month: { USD: '100' } } } } });
    await createPartner(svc.db.db, p.id, 'LP2');
    const nov = (day: number, partner = 'LP') => p.sale({ customer: { key: `m-${++n}` }, amount: 200, partner: { key: partner }, created_at: `2026-11-${day}T10:00:00Z` });
    expect((await nov(10)).body.data.rewards[0]).toMatchObject({ amount: 20 });
    expect((await nov(11)).body.data.rewards[0]).toMatchObject({ amount: 10, capped_from: '20' });
    expect((await nov(12)).body.data.rewards).toEqual([]);
    const dec = await p.sale({ customer: { key: 'm-dec' }, amount: 200, created_at: '2026-12-01T10:00:00Z' });
    expect(dec.body.data.rewards[0]).toMatchObject({ amount: 20, capped_from: null });
    for (let i = 0; i < 3; i++) expect((await nov(13, 'LP2')).body.data.rewards[0]).toMatchObject({ amount: 20, capped_from: null });
  });

  it('signed Stripe payments delivered at once (the worker batches them) count against each other', async () => {
    await createPartner(svc.db.db, svc.programId, 'LPB');
    expect((await api('PATCH', '/v1/program', { caps: { max_per_customer: { USD: '12' } } })).status).toBe(200);
    const tag = Date.now().toString(36);
    const deliveries = [0, 1, 2].map((i) =>
      paymentDelivery({ gateway: 'stripe', id: `lim${tag}${i}`, n: i + 1, amountMinor: 5000n, currency: 'USD', partnerKey: 'LPB', customer: 77 }),
    );
    await Promise.all(deliveries.map((d) => svc.post('/webhooks/stripe', d.body, d.headers())));
    for (const d of deliveries) expect((await svc.settled('stripe', d.eventId)).status).toBe('processed');
    const rewards = [];
    for (let i = 0; i < 3; i++) rewards.push(...(await api('GET', `/v1/transactions/pi_lim${tag}${i}`)).body.data.rewards);
    expect(rewards.reduce((sum: number, r: { amount: number }) => sum + r.amount, 0)).toBe(12);
    expect(rewards.filter((r: { capped_from: string | null }) => r.capped_from !== null)).toHaveLength(1);
  });

  it('bad limits are a 422 naming the field', async () => {
    const p = await program({});
    const bad = await p.api('PATCH', '/v1/program', { fraud: { refund_rate_hold: { rate: '1.5' } }, caps: { max_per_customer: { USD: '-3' } } });
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body)).toMatch(/refund_rate_hold/);
    const read = await p.api('GET', '/v1/program');
    expect(read.body.data).toMatchObject({ fraud: { self_referral_hold: true, refund_rate_hold: null }, caps: { partners: {} } });
  });
});
