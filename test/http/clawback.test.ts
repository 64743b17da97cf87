// Clawback: a refund, a lost dispute or a delete after a reward was paid out does not rewrite the
// payout; the partner owes the difference back, the balance shows it, the next payout request nets it.
// Through the REST API and signed Stripe deliveries, against the running service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvents } from '../../src/db/ledger.js';
import { loadProgramRules } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { dispute } from '../support/ledger.js';
import { gatewayEnv, paymentDelivery, refundDelivery, type Sale } from '../support/deliveries.js';
import { payoutHelpers } from '../support/payouts.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_clawback_key';
let svc: TestService;
const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);
const { sale, partner, balance } = payoutHelpers(api, KEY);

/** Request, approve and pay out everything the partner has available. */
async function payOut(partnerKey: string) {
  const req = await api('POST', '/v1/payout_requests', { partner: { key: partnerKey } });
  expect(req.status).toBe(201);
  const id = req.body.data.id;
  expect((await api('POST', `/v1/payout_requests/${id}/approve`)).status).toBe(200);
  expect((await api('POST', `/v1/payout_requests/${id}/mark_as_paid`, { reference: 'PP-1' })).status).toBe(200);
  return req.body.data;
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, ...gatewayEnv() });
});
afterAll(async () => {
  await svc?.stop();
});

describe('clawback', () => {
  it('a transaction deleted after payout is owed back, and the next request nets it', async () => {
    await partner('CB_A');
    const first = await sale('CB_A', 100); // reward 20
    await payOut('CB_A');
    const tx = (await api('GET', '/v1/transactions?partner_key=CB_A')).body.data[0];
    expect((await api('DELETE', `/v1/transactions/${tx.key}`)).status).toBe(200);
    expect(await balance('CB_A')).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '0', paid: '20', clawback: '20' }]);
    expect(first.amount).toBe(20);

    // the next request pays what is available less what is owed
    await sale('CB_A', 300); // reward 60
    const next = await api('POST', '/v1/payout_requests', { partner: { key: 'CB_A' } });
    expect(next.status).toBe(201);
    expect(String(next.body.data.amount)).toBe('40');
    expect(await balance('CB_A')).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '40', paid: '20', clawback: '0' }]);
    // rejected: the clawback is owed again
    expect((await api('POST', `/v1/payout_requests/${next.body.data.id}/reject`)).status).toBe(200);
    expect(await balance('CB_A')).toEqual([{ currency: 'USD', pending: '0', available: '60', in_payout: '0', paid: '20', clawback: '20' }]);
  });

  it('a dispute lost after payout claws the whole reward back, with the dispute named', async () => {
    await partner('CB_D');
    await sale('CB_D', 50); // reward 10
    await payOut('CB_D');
    const tx = (await api('GET', '/v1/transactions?partner_key=CB_D')).body.data[0];
    const program = (await loadProgramRules(svc.db.db, svc.programId))!;
    await applyEvents(svc.db.db, program, [dispute([tx.key], 'lost', { disputeId: 'dp_cb_d' })]);
    expect(await balance('CB_D')).toEqual([{ currency: 'USD', pending: '0', available: '0', in_payout: '0', paid: '10', clawback: '10' }]);
    const { rows } = await svc.db.pool.query(
      `select c.amount::text, d.dispute_id from clawbacks c join disputes d on d.id = c.dispute_id join partners p on p.id = c.partner_id where p.key = 'CB_D'`,
    );
    expect(rows).toEqual([{ amount: '10', dispute_id: 'dp_cb_d' }]);
  });

  it('a partial refund by signed webhook after payout claws back the part refunded; before payout it only reduces', async () => {
    await partner('CB_B');
    const tag = Date.now().toString(36);
    const paid: Sale = { gateway: 'stripe', id: `cb${tag}1`, n: 1, amountMinor: 10_000n, currency: 'USD', partnerKey: 'CB_B', customer: 501 };
    const d = paymentDelivery(paid);
    expect((await svc.post('/webhooks/stripe', d.body, d.headers())).status).toBe(200);
    expect((await svc.settled('stripe', d.eventId)).status).toBe('processed');
    const before = (await api('GET', `/v1/transactions/pi_${paid.id}`)).body.data.rewards[0].amount;
    await payOut('CB_B');
    // a refund of a quarter of the payment
    const r = refundDelivery({ ...paid, amountMinor: 2_500n });
    expect((await svc.post('/webhooks/stripe', r.body, r.headers())).status).toBe(200);
    expect((await svc.settled('stripe', r.eventId)).status).toBe('processed');
    const after = (await api('GET', `/v1/transactions/pi_${paid.id}`)).body.data.rewards[0].amount;
    expect(after).toBe(before * 0.75);
    const [b] = await balance('CB_B');
    expect(b).toMatchObject({ paid: String(before), clawback: String(before - after), available: '0' });

    // before payout: just reduced, nothing owed
    const unpaid: Sale = { ...paid, id: `cb${tag}2`, n: 2 };
    const d2 = paymentDelivery(unpaid);
    await svc.post('/webhooks/stripe', d2.body, d2.headers());
    expect((await svc.settled('stripe', d2.eventId)).status).toBe('processed');
    const r2 = refundDelivery({ ...unpaid, amountMinor: 2_500n });
    await svc.post('/webhooks/stripe', r2.body, r2.headers());
    expect((await svc.settled('stripe', r2.eventId)).status).toBe('processed');
    const [b2] = await balance('CB_B');
    expect(b2).toMatchObject({ clawback: String(before - after), available: String(after) });
  });
});
