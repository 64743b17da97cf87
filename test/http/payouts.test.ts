// Balances and payout requests through the REST API, against the running service on the real
// PostgreSQL and Redis: rewards booked by POST /v1/transactions, then paid out.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { payoutHelpers, zero } from '../support/payouts.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_payouts_key';
let svc: TestService;
let other: { id: string; apiKey: string };

const api = (method: string, path: string, body?: unknown, key: string = KEY) => callApi(svc.url, method, path, body, key);

// a webhook receiver: the events the service sends
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const received: any[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    res.writeHead(200).end();
  });
});

async function eventFor(event: string, id: number) {
  const started = Date.now();
  for (;;) {
    const found = received.find((r) => r.event === event && r.data.id === id);
    if (found) return found;
    if (Date.now() - started > 10_000) throw new Error(`no ${event} for ${id}; got ${received.map((r) => `${r.event} ${r.data.id}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const { sale, partner, balance } = payoutHelpers(api, KEY);

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  svc = await startTestService({ API_KEY: KEY, WEBHOOKS_ALLOW_LOOPBACK: 'true', WEBHOOKS_DISPATCH_INTERVAL_MS: '100' });
  other = await createProgram(svc.db.db, { name: 'Another merchant' });
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const events = ['payout_request.created', 'payout_request.approved', 'payout_request.rejected', 'payout_request.paid'];
  expect((await api('POST', '/v1/webhooks', { name: 'payouts', url, events, is_active: true })).status).toBe(201);
});
afterAll(async () => {
  await svc?.stop();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

describe('payout requests', () => {
  it('rewards in their review period are pending and cannot be paid out', async () => {
    await partner('BAL_REVIEW');
    await sale('BAL_REVIEW', 100);
    expect((await api('PATCH', '/v1/program', { review_period_days: 30 })).status).toBe(200);
    try {
      const held = await sale('BAL_REVIEW', 200);
      expect(held.status).toBe('review_period');
    } finally {
      await api('PATCH', '/v1/program', { review_period_days: 0 });
    }
    expect(await balance('BAL_REVIEW')).toEqual([{ currency: 'USD', ...zero, pending: '40', available: '20' }]);
    const r = await api('POST', '/v1/payout_requests', { partner: { key: 'BAL_REVIEW' } });
    expect(r).toMatchObject({ status: 201, body: { data: { amount: '20', amount_units: 'USD', status: 'requested' } } });
    expect(r.body.data.rewards).toHaveLength(1);
    expect(await balance('BAL_REVIEW')).toEqual([{ currency: 'USD', ...zero, pending: '40', in_payout: '20' }]);
    // the pending reward is not available: nothing more to request
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'BAL_REVIEW' } })).toMatchObject({ status: 422, body: { error: { code: 'nothing_available' } } });
  });

  it('take the available rewards, approve, mark as paid: the balance follows, and each step is announced', async () => {
    await partner('PAY_A');
    const r1 = await sale('PAY_A', 100);
    const r2 = await sale('PAY_A', 25.5);
    const created = await api('POST', '/v1/payout_requests', {
      partner: { key: 'PAY_A' },
      amount_units: 'usd',
      gateway: 'paypal',
      payout_settings: { username: 'pay_a@paypal.example.com' },
      note: 'November',
    });
    expect(created.status).toBe(201);
    const request = created.body.data;
    expect(request).toMatchObject({
      id: expect.any(Number),
      status: 'requested',
      amount: '25.1',
      amount_units: 'USD',
      partner: { key: 'PAY_A', email: 'pay_a@partners.example.com' },
      gateway: 'paypal',
      payout_settings: { username: 'pay_a@paypal.example.com' },
      note: 'November',
      reference: null,
      approved_at: null,
      paid_at: null,
    });
    expect(request.rewards.map((w: { key: string }) => w.key).sort()).toEqual([r1.key, r2.key].sort());
    expect(request.reward_ids).toEqual(request.rewards.map((w: { id: number }) => w.id));
    expect(await balance('PAY_A')).toEqual([{ currency: 'USD', ...zero, in_payout: '25.1' }]);
    expect((await eventFor('payout_request.created', request.id)).data).toMatchObject({ id: request.id, amount: '25.1', partner: { key: 'PAY_A' } });

    // only an approved request can be paid
    expect(await api('POST', `/v1/payout_requests/${request.id}/mark_as_paid`, {})).toMatchObject({ status: 409, body: { error: { code: 'invalid_status_transition' } } });
    const approved = await api('POST', `/v1/payout_requests/${request.id}/approve`);
    expect(approved).toMatchObject({ status: 200, body: { data: { status: 'approved', approved_at: expect.any(String), amount: '25.1' } } });
    expect(await api('POST', `/v1/payout_requests/${request.id}/approve`)).toMatchObject({ status: 409, body: { error: { code: 'invalid_status_transition' } } });
    expect(await balance('PAY_A')).toEqual([{ currency: 'USD', ...zero, in_payout: '25.1' }]);
    await eventFor('payout_request.approved', request.id);

    const paid = await api('POST', `/v1/payout_requests/${request.id}/mark_as_paid`, { paid_at: '2026-12-01T10:00:00Z', reference: 'PAYPAL-BATCH-7' });
    expect(paid).toMatchObject({ status: 200, body: { data: { status: 'finished', paid_at: '2026-12-01T10:00:00.000000Z', reference: 'PAYPAL-BATCH-7' } } });
    expect(await balance('PAY_A')).toEqual([{ currency: 'USD', ...zero, paid: '25.1' }]);
    expect((await eventFor('payout_request.paid', request.id)).data).toMatchObject({ status: 'finished', reference: 'PAYPAL-BATCH-7' });
    // finished is final; its rewards are never taken again
    for (const action of ['approve', 'reject', 'mark_as_paid']) {
      expect(await api('POST', `/v1/payout_requests/${request.id}/${action}`, {})).toMatchObject({ status: 409, body: { error: { code: 'invalid_status_transition' } } });
    }
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_A' } })).toMatchObject({ status: 422, body: { error: { code: 'nothing_available' } } });
    expect((await api('GET', `/v1/payout_requests/${request.id}`)).body.data).toEqual(paid.body.data);
  });

  it('reject gives the rewards back: available again, and a new request can take them', async () => {
    await partner('PAY_REJ');
    await sale('PAY_REJ', 10);
    const first = (await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_REJ' } })).body.data;
    expect(await balance('PAY_REJ')).toEqual([{ currency: 'USD', ...zero, in_payout: '2' }]);
    const rejected = await api('POST', `/v1/payout_requests/${first.id}/reject`);
    expect(rejected).toMatchObject({ status: 200, body: { data: { status: 'rejected', rejected_at: expect.any(String), reward_ids: first.reward_ids } } });
    await eventFor('payout_request.rejected', first.id);
    expect(await balance('PAY_REJ')).toEqual([{ currency: 'USD', ...zero, available: '2' }]);
    const again = await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_REJ' }, reward_ids: first.reward_ids });
    expect(again).toMatchObject({ status: 201, body: { data: { amount: '2', reward_ids: first.reward_ids } } });
    // an approved request may still be rejected before it is paid
    expect((await api('POST', `/v1/payout_requests/${again.body.data.id}/approve`)).status).toBe(200);
    expect((await api('POST', `/v1/payout_requests/${again.body.data.id}/reject`)).status).toBe(200);
    expect(await balance('PAY_REJ')).toEqual([{ currency: 'USD', ...zero, available: '2' }]);
    expect(await api('POST', `/v1/payout_requests/${first.id}/approve`)).toMatchObject({ status: 409, body: { error: { code: 'invalid_status_transition' } } });
  });

  it('a requested payout follows its rewards as they stand; approval fixes what is left', async () => {
    await partner('PAY_DROP');
    await sale('PAY_DROP', 10);
    await sale('PAY_DROP', 20);
    const request = (await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_DROP' } })).body.data;
    expect(request.amount).toBe('6');
    // the 4.00 reward's payment is deleted (refunded) before approval: it is just gone
    const gone = request.rewards.find((w: { amount: string }) => w.amount === '4');
    expect((await api('DELETE', `/v1/transactions/${gone.transaction_key}`)).status).toBe(200);
    expect((await api('GET', `/v1/payout_requests/${request.id}`)).body.data.amount).toBe('2');
    expect(await balance('PAY_DROP')).toEqual([{ currency: 'USD', ...zero, in_payout: '2' }]);
    const approved = await api('POST', `/v1/payout_requests/${request.id}/approve`);
    expect(approved).toMatchObject({ status: 200, body: { data: { status: 'approved', amount: '2' } } });
    expect(approved.body.data.rewards).toHaveLength(1);
    expect(await balance('PAY_DROP')).toEqual([{ currency: 'USD', ...zero, in_payout: '2' }]);

    // every reward gone: nothing to approve
    await sale('PAY_DROP', 50);
    const empty = (await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_DROP' } })).body.data;
    expect((await api('DELETE', `/v1/transactions/${empty.rewards[0].transaction_key}`)).status).toBe(200);
    expect(await api('POST', `/v1/payout_requests/${empty.id}/approve`)).toMatchObject({ status: 409, body: { error: { code: 'nothing_to_pay' } } });
    expect((await api('POST', `/v1/payout_requests/${empty.id}/reject`)).status).toBe(200);
  });

  it('takes only the listed rewards (by id or key), in one currency; several currencies need amount_units', async () => {
    await partner('PAY_SOME');
    const a = await sale('PAY_SOME', 10);
    await sale('PAY_SOME', 20);
    const e = await sale('PAY_SOME', 30, 'EUR');
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_SOME' } })).toMatchObject({ status: 422, body: { error: { code: 'currency_required', fields: { amount_units: 'one of EUR, USD' } } } });
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_SOME' }, reward_ids: [a.key, e.key] })).toMatchObject({ status: 422, body: { error: { code: 'currency_required' } } });
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_SOME' }, reward_ids: [a.key, 'no-such-reward'] })).toMatchObject({ status: 422, body: { error: { code: 'reward_not_available' } } });
    const one = await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_SOME' }, reward_ids: [a.key] });
    expect(one).toMatchObject({ status: 201, body: { data: { amount: '2', amount_units: 'USD', rewards: [{ key: a.key }] } } });
    // taken: listing it again is refused
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_SOME' }, reward_ids: [one.body.data.reward_ids[0]] })).toMatchObject({ status: 422, body: { error: { code: 'reward_not_available' } } });
    expect(await balance('PAY_SOME')).toEqual([
      { currency: 'EUR', ...zero, available: '6' },
      { currency: 'USD', ...zero, available: '4', in_payout: '2' },
    ]);
    expect(await api('POST', '/v1/payout_requests', { partner: { email: 'pay_some@partners.example.com' }, amount_units: 'EUR' })).toMatchObject({ status: 201, body: { data: { amount: '6', amount_units: 'EUR' } } });
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_SOME' }, amount_units: 'GBP' })).toMatchObject({ status: 422, body: { error: { code: 'nothing_available' } } });
  });

  it('refuses bad input with 422 naming the fields, an unknown partner or request with 404, an inactive partner with 409', async () => {
    const bad = await api('POST', '/v1/payout_requests', { partner: {}, gateway: 'cheque', amount_units: 'dollars', reward_ids: [] });
    expect(bad).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
    expect(Object.keys(bad.body.error.fields).sort()).toEqual(['amount_units', 'gateway', 'partner', 'reward_ids']);
    expect((await api('POST', '/v1/payout_requests', { partner: { key: 'NOBODY' } })).status).toBe(404);
    expect((await api('GET', '/v1/payout_requests/999999')).status).toBe(404);
    expect((await api('GET', '/v1/payout_requests/abc')).status).toBe(404);
    expect((await api('POST', '/v1/payout_requests/999999/approve')).status).toBe(404);
    await partner('PAY_GONE');
    await sale('PAY_GONE', 10);
    await api('POST', '/v1/partners/PAY_GONE/archive');
    expect(await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_GONE' } })).toMatchObject({ status: 409, body: { error: { code: 'partner_not_active' } } });
    const paid = await api('POST', '/v1/payout_requests/1/mark_as_paid', { paid_at: 'yesterday' });
    expect(paid).toMatchObject({ status: 422, body: { error: { fields: { paid_at: expect.any(String) } } } });
  });

  it('two requests at once never take the same reward: one gets them, the others find nothing', async () => {
    await partner('PAY_RACE');
    for (let i = 0; i < 6; i++) await sale('PAY_RACE', 10 + i);
    const results = await Promise.all(Array.from({ length: 6 }, () => api('POST', '/v1/payout_requests', { partner: { key: 'PAY_RACE' } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 422, 422, 422, 422, 422]);
    const won = results.find((r) => r.status === 201)!.body.data;
    expect(won.rewards).toHaveLength(6);
    expect(results.filter((r) => r.status !== 201).map((r) => r.body.error.code)).toEqual(Array(5).fill("nothing_available"));
    expect(await balance('PAY_RACE')).toEqual([{ currency: 'USD', ...zero, in_payout: won.amount }]);
  });

  it('requests naming overlapping rewards at once: each reward lands in one request only', async () => {
    await partner('PAY_RACE2');
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) keys.push((await sale('PAY_RACE2', 10)).key);
    // each request names every reward, or every reward but one: whichever runs first takes them
    const bodies = [keys, keys.slice(1), keys.slice(0, 3), keys].map((reward_ids) => ({ partner: { key: 'PAY_RACE2' }, reward_ids }));
    const results = await Promise.all(bodies.map((b) => api('POST', '/v1/payout_requests', b)));
    const taken = results.filter((r) => r.status === 201).flatMap((r) => r.body.data.rewards.map((w: { key: string }) => w.key));
    expect(results.map((r) => r.body.error?.code ?? r.status).sort()).toEqual([201, 'reward_not_available', 'reward_not_available', 'reward_not_available']);
    expect(new Set(taken).size).toBe(taken.length);
    expect(results.filter((r) => r.status !== 201).every((r) => r.status === 422 && r.body.error.code === 'reward_not_available')).toBe(true);
  });

  it('the database itself refuses a reward in two standing requests', async () => {
    await partner('PAY_DB');
    await sale('PAY_DB', 10);
    const request = (await api('POST', '/v1/payout_requests', { partner: { key: 'PAY_DB' } })).body.data;
    const { rows } = await svc.db.pool.query(
      `insert into payout_requests (program_id, partner_id, amount, currency) values ($1, $2, 2, 'USD') returning id`,
      [svc.programId, request.partner.id],
    );
    await expect(
      svc.db.pool.query(`insert into payout_request_rewards (payout_request_id, reward_id, amount) values ($1, $2, 2)`, [rows[0].id, request.reward_ids[0]]),
    ).rejects.toMatchObject({ code: '23505' });
  });

  it('lists with filters and a keyset links.next; search takes the same filters', async () => {
    for (const key of ['LIST_1', 'LIST_2', 'LIST_3']) {
      await partner(key);
      await sale(key, 10);
      expect((await api('POST', '/v1/payout_requests', { partner: { key } })).status).toBe(201);
    }
    const first = await api('GET', '/v1/payout_requests?limit=2&status=requested&amount_units=usd');
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.links.next).toMatch(/cursor=\d+\.\d+/);
    // follow links.next to the end: every request once, as many as meta.total says
    const seen: number[] = first.body.data.map((r: { id: number }) => r.id);
    for (let link = first.body.links.next; link; ) {
      const u = new URL(link);
      const page = await api('GET', `${u.pathname}${u.search}`);
      seen.push(...page.body.data.map((r: { id: number }) => r.id));
      link = page.body.links.next;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toHaveLength(first.body.meta.total);
    // newest first
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    const byKey = await api('GET', '/v1/payout_requests?partner_key=LIST_2');
    expect(byKey.body.data.map((r: { partner: { key: string } }) => r.partner.key)).toEqual(['LIST_2']);
    const byEmail = await api('GET', '/v1/payout_requests:search?partner_email=LIST_3@partners.example.com');
    expect(byEmail.body.data.map((r: { partner: { key: string } }) => r.partner.key)).toEqual(['LIST_3']);
    const id = byKey.body.data[0].partner.id;
    expect((await api('GET', `/v1/payout_requests?partner_id=${id}`)).body.data).toHaveLength(1);
    expect((await api('GET', '/v1/payout_requests?status=finished&partner_key=LIST_1')).body.data).toEqual([]);
    expect(await api('GET', '/v1/payout_requests?status=paid')).toMatchObject({ status: 422, body: { error: { fields: { status: expect.any(String) } } } });
    expect(await api('GET', '/v1/payout_requests?cursor=nope')).toMatchObject({ status: 422 });
  });

  it("a program never sees or moves another program's requests", async () => {
    await partner('ISO_A');
    await sale('ISO_A', 10);
    const mine = (await api('POST', '/v1/payout_requests', { partner: { key: 'ISO_A' } })).body.data;
    // the other program has a partner with the same key, and its own rewards
    await partner('ISO_A', other.apiKey);
    await sale('ISO_A', 1000, 'USD', other.apiKey);
    expect((await api('GET', `/v1/payout_requests/${mine.id}`, undefined, other.apiKey)).status).toBe(404);
    for (const action of ['approve', 'reject', 'mark_as_paid']) {
      expect((await api('POST', `/v1/payout_requests/${mine.id}/${action}`, {}, other.apiKey)).status).toBe(404);
    }
    expect((await api('GET', '/v1/payout_requests?partner_key=ISO_A', undefined, other.apiKey)).body.data).toEqual([]);
    expect((await api('GET', '/v1/partners/ISO_A/balance', undefined, other.apiKey)).body.data.balances).toEqual([{ currency: 'USD', ...zero, available: '200' }]);
    const theirs = await api('POST', '/v1/payout_requests', { partner: { key: 'ISO_A' } }, other.apiKey);
    expect(theirs).toMatchObject({ status: 201, body: { data: { amount: '200' } } });
    expect((await api('GET', `/v1/payout_requests/${theirs.body.data.id}`)).status).toBe(404);
    expect((await api('GET', `/v1/payout_requests/${mine.id}`)).body.data.status).toBe('requested');
    expect(await balance('ISO_A')).toEqual([{ currency: 'USD', ...zero, in_payout: '2' }]);
  });
});
