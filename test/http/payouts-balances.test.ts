// Partners' balances per currency through the REST API (GET /v1/partners/{key}/balance, the partner
// read and list) and the Prometheus gauges, on the real PostgreSQL and Redis: rewards booked by
// POST /v1/transactions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { payoutHelpers, zero } from '../support/payouts.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_balances_key';
let svc: TestService;
let other: { id: string; apiKey: string };

const api = (method: string, path: string, body?: unknown, key: string = KEY) => callApi(svc.url, method, path, body, key);
const { sale, partner, balance } = payoutHelpers(api, KEY);

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
  other = await createProgram(svc.db.db, { name: 'Another merchant' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('balances', () => {
  it('are kept per currency, never converted, in exact decimals; a partner without rewards has none', async () => {
    await partner('BAL_A');
    expect(await balance('BAL_A')).toEqual([]);
    await sale('BAL_A', 99.99); // 19.998
    await sale('BAL_A', 0.05); // 0.01
    await sale('BAL_A', 50, 'EUR'); // 10
    expect(await balance('BAL_A')).toEqual([
      { currency: 'EUR', ...zero, available: '10' },
      { currency: 'USD', ...zero, available: '20.008' },
    ]);
  });

  it('a deleted (refunded) reward counts nowhere', async () => {
    await partner('BAL_DEL');
    await sale('BAL_DEL', 100);
    const r = await api('POST', '/v1/transactions', { key: 'del_me', amount: 50, amount_units: 'USD', options: { create_customer: true }, customer: { key: 'c_del', partner: { key: 'BAL_DEL' } } });
    expect(r.status).toBe(201);
    expect(await balance('BAL_DEL')).toEqual([{ currency: 'USD', ...zero, available: '30' }]);
    expect((await api('DELETE', '/v1/transactions/del_me')).status).toBe(200);
    expect(await balance('BAL_DEL')).toEqual([{ currency: 'USD', ...zero, available: '20' }]);
  });

  it('the partner read and the partners list carry the balance; the balance path takes the id or the email too', async () => {
    const p = await partner('BAL_READ');
    await sale('BAL_READ', 10);
    const expected = [{ currency: 'USD', ...zero, available: '2' }];
    expect((await api('GET', '/v1/partners/BAL_READ')).body.data).toMatchObject({ key: 'BAL_READ', balance: expected });
    expect((await api('GET', `/v1/partners/${p.id}`)).body.data.balance).toEqual(expected);
    expect((await api('GET', '/v1/partner?key=BAL_READ')).body.data.balance).toEqual(expected);
    expect((await api('GET', `/v1/partners/${p.id}/balance`)).body.data.balances).toEqual(expected);
    expect((await api('GET', '/v1/partners/bal_read@partners.example.com/balance')).body.data.balances).toEqual(expected);
    const listed = (await api('GET', '/v1/partners?limit=250')).body.data as { key: string; balance: unknown[] }[];
    expect(listed.find((x) => x.key === 'BAL_READ')?.balance).toEqual(expected);
    expect(listed.find((x) => x.key === 'BAL_A')?.balance).toHaveLength(2);
    expect((await api('GET', '/v1/partners/NOBODY/balance')).status).toBe(404);
  });
  it('rewards in their review period are pending; rejected ones count nowhere', async () => {
    await partner('BAL_PENDING');
    expect((await api('PATCH', '/v1/program', { review_period_days: 30 })).status).toBe(200);
    try {
      expect((await sale('BAL_PENDING', 200)).status).toBe('review_period');
    } finally {
      await api('PATCH', '/v1/program', { review_period_days: 0 });
    }
    await sale('BAL_PENDING', 5);
    expect(await balance('BAL_PENDING')).toEqual([{ currency: 'USD', ...zero, pending: '40', available: '1' }]);
    // a merchant rejected the held one (the ledger's own column; no API here rejects rewards)
    await svc.db.pool.query(`update rewards set status = 'rejected' where amount = 40 and partner_id = (select id from partners where key = 'BAL_PENDING')`);
    expect(await balance('BAL_PENDING')).toEqual([{ currency: 'USD', ...zero, available: '1' }]);
  });

  it('money owed back (a clawback the ledger records) shows until it is cancelled', async () => {
    const p = await partner('BAL_CLAW');
    await sale('BAL_CLAW', 10);
    const { rows } = await svc.db.pool.query(
      `insert into clawbacks (program_id, partner_id, amount, currency) values ($1, $2, 7.5, 'USD'), ($1, $2, 1.25, 'EUR') returning id`,
      [svc.programId, p.id],
    );
    expect(await balance('BAL_CLAW')).toEqual([
      { currency: 'EUR', ...zero, clawback: '1.25' },
      { currency: 'USD', ...zero, available: '2', clawback: '7.5' },
    ]);
    await svc.db.pool.query(`update clawbacks set cancelled_at = now() where id = $1`, [rows[0].id]);
    expect(await balance('BAL_CLAW')).toEqual([
      { currency: 'EUR', ...zero, clawback: '1.25' },
      { currency: 'USD', ...zero, available: '2' },
    ]);
    // negative is a credit (a netted clawback whose refund was reversed); zero is nothing
    await expect(svc.db.pool.query(`insert into clawbacks (program_id, partner_id, amount, currency) values ($1, $2, 0, 'USD')`, [svc.programId, p.id])).rejects.toMatchObject({
      code: '23514',
    });
  });

  it('a clawback a payout request nets lowers what that request pays, until the request is rejected', async () => {
    const p = await partner('BAL_NET');
    await sale('BAL_NET', 10);
    const { rows } = await svc.db.pool.query(`insert into clawbacks (program_id, partner_id, amount, currency) values ($1, $2, 0.5, 'USD') returning id`, [svc.programId, p.id]);
    // the next request nets what the partner owes: it pays 0.5 less
    const request = (await api('POST', '/v1/payout_requests', { partner: { key: 'BAL_NET' } })).body.data;
    expect(request.amount).toBe('1.5');
    const netted = await svc.db.pool.query(`select settled_payout_request_id::text as id from clawbacks where id = $1`, [rows[0].id]);
    expect(netted.rows[0].id).toBe(String(request.id));
    expect(await balance('BAL_NET')).toEqual([{ currency: 'USD', ...zero, in_payout: '1.5' }]);
    expect((await api('POST', `/v1/payout_requests/${request.id}/approve`)).status).toBe(200);
    expect((await api('POST', `/v1/payout_requests/${request.id}/mark_as_paid`, {})).status).toBe(200);
    expect(await balance('BAL_NET')).toEqual([{ currency: 'USD', ...zero, paid: '1.5' }]);
  });

  it('a rejected request no longer nets its clawback: it is owed again', async () => {
    const p = await partner('BAL_NET_REJ');
    await sale('BAL_NET_REJ', 10);
    const request = (await api('POST', '/v1/payout_requests', { partner: { key: 'BAL_NET_REJ' } })).body.data;
    await svc.db.pool.query(`insert into clawbacks (program_id, partner_id, amount, currency, settled_payout_request_id) values ($1, $2, 0.5, 'USD', $3)`, [svc.programId, p.id, request.id]);
    expect(await balance('BAL_NET_REJ')).toEqual([{ currency: 'USD', ...zero, in_payout: '1.5' }]);
    expect((await api('POST', `/v1/payout_requests/${request.id}/reject`)).status).toBe(200);
    expect(await balance('BAL_NET_REJ')).toEqual([{ currency: 'USD', ...zero, available: '2', clawback: '0.5' }]);
  });

  it("a program never sees another program's balances", async () => {
    await partner('BAL_ISO');
    await partner('BAL_ISO', other.apiKey);
    await sale('BAL_ISO', 1000, 'USD', other.apiKey);
    expect(await balance('BAL_ISO')).toEqual([]);
    expect(await balance('BAL_ISO', other.apiKey)).toEqual([{ currency: 'USD', ...zero, available: '200' }]);
  });

  it('Prometheus gets the totals per program, currency and state', async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const line = (program: string, currency: string, state: string) =>
      text.split('\n').find((l) => l.startsWith(`partner_ledger_partner_balance{program="${program}",currency="${currency}",state="${state}"}`));
    // the gauge is the sum of the partners' balances the API shows, per currency
    const partners = (await api('GET', '/v1/partners?status=all&limit=250')).body.data as { balance: { currency: string; available: string }[] }[];
    const micros = (v: string) => BigInt(Math.round(Number(v) * 1e6));
    const available = new Map<string, bigint>();
    for (const b of partners.flatMap((x) => x.balance)) available.set(b.currency, (available.get(b.currency) ?? 0n) + micros(b.available));
    expect([...available.keys()].sort()).toEqual(['EUR', 'USD']);
    for (const [cur, n] of available) expect(micros(line(svc.programId, cur, 'available')!.split(' ').at(-1)!)).toBe(n);
    expect(line(other.id, 'USD', 'available')).toMatch(/ 200$/);
    expect(line(svc.programId, 'EUR', 'clawback')).toMatch(/ 1\.25$/);
  });
});

