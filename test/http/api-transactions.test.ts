// The REST API's transactions, against the running service on the real PostgreSQL and Redis.
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { transactions } from '../../src/db/schema.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_default_program_key';
let svc: TestService;
let other: { id: string; apiKey: string };

const api = (method: string, path: string, body?: unknown, key: string | null = KEY) => callApi(svc.url, method, path, body, key);

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
  await createPartner(svc.db.db, svc.programId, 'PARTNER_A', { email: 'a@partners.example.com' });
  await createPartner(svc.db.db, svc.programId, 'PARTNER_B');
  other = await createProgram(svc.db.db, { name: 'Another merchant' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('authentication and envelope', () => {
  it('refuses a request without a key, or with an unknown one', async () => {
    expect(await api('GET', '/v1/transactions', undefined, null)).toMatchObject({ status: 401, body: { status: 0, error: { code: 'unauthorized' } } });
    expect(await api('GET', '/v1/transactions', undefined, 'nope')).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
  });

  it('answers a body that is not JSON with 400 and one that is too large with 413', async () => {
    expect(await api('POST', '/v1/transactions', '{"key":')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    const huge = JSON.stringify({ key: 'x', pad: 'x'.repeat(1_100_000) });
    expect((await api('POST', '/v1/transactions', huge)).status).toBe(413);
  });

  it('names every wrong field with 422', async () => {
    const r = await api('POST', '/v1/transactions', { key: 'bad-1', amount: 'lots', customer: {}, rewardable: 'yes' });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('validation_failed');
    expect(Object.keys(r.body.error.fields).sort()).toEqual(['customer', 'rewardable']);
    const amount = await api('POST', '/v1/transactions', { key: 'bad-2', amount: '1.005', customer: { key: 'c' } });
    expect(amount).toMatchObject({ status: 422, body: { error: { fields: { amount: expect.stringContaining('more than 2 decimal places') } } } });
  });

  it('a lone UTF-16 surrogate (which PostgreSQL cannot store) is a 422 saying so, and nothing is stored', async () => {
    const count = async () => (await svc.db.pool.query(`select count(*)::int as n from transactions`)).rows[0].n as number;
    const before = await count();
    // JSON escapes, as a client sends them: a lone high surrogate, a lone low one
    for (const key of ['\\ud800', 'order-\\udc00-1']) {
      const r = await api('POST', '/v1/transactions', `{"key":"${key}","amount":10,"customer":{"key":"c-surrogate"}}`);
      expect(r).toMatchObject({ status: 422, body: { status: 0, error: { code: 'invalid_characters' } } });
    }
    expect(await count()).toBe(before);
    // a surrogate pair is a character like any other
    const emoji = await api('POST', '/v1/transactions', '{"key":"order-\\ud83d\\ude00","amount":10,"customer":{"key":"c-emoji"}}');
    expect(emoji).toMatchObject({ status: 201, body: { data: { key: 'order-😀' } } });
  });
});

describe('POST /v1/transactions', () => {
  const create = (over: Record<string, unknown> = {}) => ({
    key: `t_${randomBytes(4).toString('hex')}`,
    amount: 99.99,
    amount_units: 'usd',
    action: 'sale',
    options: { create_customer: true },
    customer: { key: `cust_${randomBytes(4).toString('hex')}`, email: 'Buyer@Example.com', partner: { key: 'PARTNER_A' } },
    ...over,
  });

  it('creates the customer on the spot, links it to its partner, and pays the commission', async () => {
    const body = create({ product_id: 'prod_1', product_type: 'monthly', gross_amount: 120, discount_amount: 20.01, discount_code: 'SPRING' });
    const r = await api('POST', '/v1/transactions', body);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      status: 1,
      data: {
        key: body.key,
        action: 'sale',
        amount: 99.99,
        amount_units: 'USD',
        partner: 'PARTNER_A',
        customer: body.customer.key,
        credit: false,
        is_currency: true,
        gross_amount: 120,
        discount_amount: 20.01,
        discount_code: 'SPRING',
        deleted_at: null,
        rewards: [
          {
            action: 'sale',
            status: 'ok',
            partner: 'PARTNER_A',
            customer: body.customer.key,
            amount: 19.998,
            amount_units: 'USD',
            is_currency: true,
            product_type_data: { product_id: 'prod_1', product_type: 'monthly' },
            deleted_at: null,
          },
        ],
        attribution: { path: 'customer', partner_key: 'PARTNER_A', partner_key_place: 'api_customer_partner', customer_match: 'created' },
      },
    });
    expect(r.body.data.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(r.body.data).not.toHaveProperty('request_hash');
  });

  it('the same request sent again returns the stored transaction; a different body under the key is 409', async () => {
    const body = create();
    const first = await api('POST', '/v1/transactions', body);
    const again = await api('POST', '/v1/transactions', body);
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual(first.body.data);
    const changed = await api('POST', '/v1/transactions', { ...body, amount: 10 });
    expect(changed).toMatchObject({ status: 409, body: { status: 0, error: { code: 'duplicate_key' } } });
  });

  it('the same request sent 5 times at once makes one transaction', async () => {
    const body = create();
    const results = await Promise.all(Array.from({ length: 5 }, () => api('POST', '/v1/transactions', body)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    const rows = (await svc.db.db.select().from(transactions)).filter((t) => t.key === body.key);
    expect(rows).toHaveLength(1);
  });

  it('a customer that neither exists nor is created: recorded against nobody, and the reason is told', async () => {
    const r = await api('POST', '/v1/transactions', create({ options: null, customer: { key: 'never-seen' } }));
    expect(r.status).toBe(201);
    expect(r.body.data).toMatchObject({ customer: null, partner: null, rewards: [], attribution: { customer_match: 'none', reward_reason: 'no_partner' } });
  });

  it('an existing customer keeps its partner; partner names a transaction-based partner', async () => {
    const customer = { key: `cust_${randomBytes(4).toString('hex')}`, partner: { email: 'A@partners.example.com' } };
    await api('POST', '/v1/transactions', create({ customer }));
    const r = await api('POST', '/v1/transactions', create({ options: null, customer: { key: customer.key }, partner: { key: 'PARTNER_B' } }));
    expect(r.body.data).toMatchObject({ partner: 'PARTNER_A', attribution: { ignored_partner_key: 'PARTNER_B' } });
  });

  it('an unknown partner key falls back to the customer-based attribution (Partnero\'s INVALID_KEY); an unknown id or email is a 422', async () => {
    const r = await api('POST', '/v1/transactions', create({ partner: { key: 'GHOST' } }));
    expect(r).toMatchObject({ status: 201, body: { data: { partner: 'PARTNER_A', rewards: [{ partner: 'PARTNER_A' }] } } });
    const byEmail = await api('POST', '/v1/transactions', create({ partner: { email: 'ghost@example.com' } }));
    expect(byEmail).toMatchObject({ status: 422, body: { error: { code: 'unknown_partner', fields: { partner: 'no such partner' } } } });
  });

  it('rewardable false records the sale without commission; created_at back-dates it', async () => {
    const r = await api('POST', '/v1/transactions', create({ rewardable: false, created_at: '2026-01-15T08:00:00Z' }));
    expect(r.body.data).toMatchObject({ rewards: [], created_at: '2026-01-15T08:00:00.000000Z', attribution: { reward_reason: 'not_rewardable' } });
    const future = await api('POST', '/v1/transactions', create({ created_at: '2099-01-01' }));
    expect(future).toMatchObject({ status: 422, body: { error: { fields: { created_at: 'must not be in the future' } } } });
  });

  it('amounts keep their currency exponent, and non-currency units work', async () => {
    const jpy = await api('POST', '/v1/transactions', create({ amount: '5000', amount_units: 'JPY' }));
    expect(jpy.body.data).toMatchObject({ amount: 5000, amount_units: 'JPY', rewards: [{ amount: 1000, amount_units: 'JPY' }] });
    const kwd = await api('POST', '/v1/transactions', create({ amount: '12.345', amount_units: 'KWD' }));
    expect(kwd.body.data).toMatchObject({ amount: 12.345, rewards: [{ amount: 2.469 }] });
    const points = await api('POST', '/v1/transactions', create({ amount: 250, amount_units: 'points' }));
    expect(points.body.data).toMatchObject({ amount: 250, amount_units: 'points', is_currency: false, rewards: [{ amount: 50, amount_units: 'points', is_currency: false }] });
  });
});

describe('reading, deleting and archiving', () => {
  it('another program\'s transaction is a 404, never a leak', async () => {
    const mine = await api('POST', '/v1/transactions', { key: 'private-1', amount: 10, customer: { key: 'x' } });
    expect(mine.status).toBe(201);
    expect(await api('GET', '/v1/transactions/private-1', undefined, other.apiKey)).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await api('DELETE', '/v1/transactions/private-1', undefined, other.apiKey)).status).toBe(404);
    const theirs = await api('GET', '/v1/transactions', undefined, other.apiKey);
    expect(theirs.body.data).toEqual([]);
    // the same key is free in another program
    expect((await api('POST', '/v1/transactions', { key: 'private-1', amount: 10, customer: { key: 'x' } }, other.apiKey)).status).toBe(201);
  });

  it('DELETE removes the transaction and its rewards for good; it still reads by key; the key is not reused', async () => {
    const created = await api('POST', '/v1/transactions', { key: 'del-1', amount: 50, options: { create_customer: true }, customer: { key: 'del-c', partner: { key: 'PARTNER_A' } } });
    expect(created.body.data.rewards).toHaveLength(1);
    const del = await api('DELETE', '/v1/transactions/del-1');
    expect(del.status).toBe(200);
    expect(del.body.data.deleted_at).not.toBeNull();
    expect(del.body.data.rewards[0].deleted_at).not.toBeNull();
    expect((await api('GET', '/v1/transactions/del-1')).body.data.deleted_at).toBe(del.body.data.deleted_at);
    expect((await api('GET', '/v1/transactions?key=del-1')).body.data).toEqual([]);
    expect((await api('GET', '/v1/transactions?key=del-1&status=deleted')).body.data).toHaveLength(1);
    expect((await api('POST', '/v1/transactions', { key: 'del-1', amount: 1, customer: { key: 'y' } })).status).toBe(409);
    expect((await api('DELETE', '/v1/transactions/nope')).status).toBe(404);
  });

  it('archive hides a transaction and its rewards; revoke-archive brings them back', async () => {
    await api('POST', '/v1/transactions', { key: 'arc-1', amount: 50, options: { create_customer: true }, customer: { key: 'arc-c', partner: { key: 'PARTNER_A' } } });
    const archived = await api('POST', '/v1/transactions/arc-1/archive');
    expect(archived.body.data.archived_at).not.toBeNull();
    expect(archived.body.data.rewards[0].archived_at).not.toBeNull();
    expect((await api('GET', '/v1/transactions?key=arc-1')).body.data).toEqual([]);
    expect((await api('GET', '/v1/transactions?key=arc-1&status=archived')).body.data).toHaveLength(1);
    const back = await api('POST', '/v1/transactions/arc-1/revoke-archive');
    expect(back.body.data).toMatchObject({ archived_at: null, rewards: [{ archived_at: null }] });
    expect((await api('GET', '/v1/transactions?key=arc-1')).body.data).toHaveLength(1);
  });
});

describe('GET /v1/transactions pagination', () => {
  it('follows links.next over 1,000 rows: every row once, newest first, the envelope Partnero clients read', async () => {
    const program = await createProgram(svc.db.db, { name: 'Paged' });
    const base = Date.parse('2026-06-01T00:00:00Z');
    const rows = Array.from({ length: 1000 }, (_, i) => ({
      programId: program.id,
      key: `p-${String(i).padStart(4, '0')}`,
      amountMinor: BigInt(100 + i),
      currency: 'USD',
      gateway: 'api',
      // pairs share a timestamp: the order must still be total
      createdAt: new Date(base + Math.floor(i / 2) * 60_000),
    }));
    await svc.db.db.insert(transactions).values(rows);

    const seen: string[] = [];
    let url: string | null = `/v1/transactions?limit=250`;
    let pages = 0;
    while (url) {
      const r = await api('GET', url.replace(svc.url, ''), undefined, program.apiKey);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 1, meta: { per_page: 250, total: 1000, last_page: 4, current_page: pages + 1 } });
      expect(Object.keys(r.body.links).sort()).toEqual(['first', 'last', 'next', 'prev']);
      seen.push(...r.body.data.map((t: { key: string }) => t.key));
      url = r.body.links.next;
      if (url) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/transactions\?.*cursor=/);
      pages++;
    }
    expect(pages).toBe(4);
    expect(seen).toHaveLength(1000);
    expect(new Set(seen).size).toBe(1000);
    expect(seen[0]).toBe('p-0999');
    expect(seen.at(-1)).toBe('p-0000');

    const page3 = await api('GET', '/v1/transactions?limit=100&page=3&sort=asc', undefined, program.apiKey);
    expect(page3.body.data[0].key).toBe('p-0200');
    expect(page3.body.links.prev).toContain('page=2');

    // oldest first, by cursor: the same rows once each, in the other order
    const ascending: string[] = [];
    for (let next: string | null = '/v1/transactions?limit=250&sort=asc'; next; ) {
      const r = await api('GET', next.replace(svc.url, ''), undefined, program.apiKey);
      ascending.push(...r.body.data.map((t: { key: string }) => t.key));
      next = r.body.links.next;
    }
    expect(ascending).toEqual([...seen].reverse());

    const day = await api('GET', '/v1/transactions?date_after=2026-06-01&date_before=2026-06-01&limit=250', undefined, program.apiKey);
    expect(day.body.meta.total).toBe(1000); // 500 minutes: all on 1 June
    const none = await api('GET', '/v1/transactions?date_after=2026-06-02', undefined, program.apiKey);
    expect(none.body.meta.total).toBe(0);
    expect((await api('GET', '/v1/transactions?limit=251', undefined, program.apiKey)).status).toBe(422);
  });

  it('a large program\'s total is kept a while, then refreshed behind a request that still answers at once', async () => {
    const program = await createProgram(svc.db.db, { name: 'Large' });
    const fill = (from: number, to: number) =>
      svc.db.db.execute(sql`insert into transactions (program_id, key, amount_minor, currency, gateway, created_at)
        select ${program.id}, 'big-' || g, 100, 'USD', 'api', timestamptz '2026-01-01' + g * interval '1 second'
        from generate_series(${from}::int, ${to}::int) g`);
    const list = () => api('GET', '/v1/transactions?limit=1', undefined, program.apiKey);
    await fill(1, 10_001);
    expect((await list()).body.meta.total).toBe(10_001);

    await fill(10_002, 10_005);
    const soon = await list();
    expect(soon.body.data[0].key).toBe('big-10005'); // the rows are never stale
    expect(soon.body.meta.total).toBe(10_001); // the count is, for a few seconds

    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 11_000);
      expect((await list()).body.meta.total).toBe(10_001); // answered with the old count, which is being redone
      let total = 0;
      for (let i = 0; i < 50 && total !== 10_005; i++) {
        await new Promise((r) => setTimeout(r, 20));
        total = (await list()).body.meta.total;
      }
      expect(total).toBe(10_005);
    } finally {
      vi.useRealTimers();
    }
  });

  it('filters by customer, partner key and partner email', async () => {
    await api('POST', '/v1/transactions', { key: 'f-1', amount: 5, options: { create_customer: true }, customer: { key: 'filter-c', partner: { key: 'PARTNER_B' } } });
    expect((await api('GET', '/v1/transactions?customer=filter-c')).body.data.map((t: { key: string }) => t.key)).toEqual(['f-1']);
    expect((await api('GET', '/v1/transactions?partner_key=PARTNER_B')).body.data.map((t: { key: string }) => t.key)).toContain('f-1');
    const byEmail = await api('GET', '/v1/transactions?partner_email=A@PARTNERS.example.com&limit=250');
    expect(byEmail.body.data.length).toBeGreaterThan(0);
    expect(byEmail.body.data.every((t: { partner: string }) => t.partner === 'PARTNER_A')).toBe(true);
  });
});
