// Hostile query strings on every list of the REST API: each is a 422 naming the parameter, never a
// 500 (a cursor past bigint, a date PostgreSQL cannot read, a parameter given twice ...).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_default_program_key';
let svc: TestService;
let deliveriesPath = '';

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, WEBHOOKS_ALLOW_LOOPBACK: 'true' });
  await createPartner(svc.db.db, svc.programId, 'PARTNER_Q', { email: 'q@partners.example.com' });
  const created = await callApi(svc.url, 'POST', '/v1/transactions', { key: 'q-1', amount: 10, options: { create_customer: true }, customer: { key: 'cust-q', partner: { key: 'PARTNER_Q' } } }, KEY);
  expect(created.status).toBe(201);
  const hook = await callApi(svc.url, 'POST', '/v1/webhooks', { name: 'q', url: 'http://127.0.0.1:9/hook', events: ['transaction.deleted'] }, KEY);
  expect(hook.status).toBe(201);
  deliveriesPath = `/v1/webhooks/${hook.body.data.key}/deliveries`;
});
afterAll(async () => {
  await svc?.stop();
});

/** GET a path with a query string sent exactly as written (percent escapes included). */
async function get(path: string, query: string) {
  const res = await fetch(`${svc.url}${path}?${query}`, { headers: { authorization: `Bearer ${KEY}` } });
  const text = await res.text();
  let body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** Given twice with different values, or in bracket (object) form. */
const shapes = (name: string, value: string) => [`${name}=${value}&${name}=${value}x`, `${name}[x]=${value}`, `${name}[]=${value}`];

const integer = (over: string) => ['', '%20', '%201', '0', '-1', '1.5', '1e2', '0x10', 'Infinity', 'NaN', 'abc', '%00', '99999999999999999999', '9'.repeat(400), over];
const text = ['', '%20', '%00', 'a%00b', 'x'.repeat(256)];

/** A list: requests it answers 200 (the first a normal one), and values of each parameter that must be a 422 naming it. */
type List = { name: string; path: () => string; accepted: string[]; params: Record<string, string[]> };
const lists: List[] = [
  {
    name: 'GET /v1/transactions',
    path: () => '/v1/transactions',
    accepted: [
      'limit=250&page=1&sort=asc&status=all&customer.key=cust-q&partner.key=PARTNER_Q&date_after=1970-01-01&date_before=9999-12-30',
      // the bounds themselves
      'cursor=253402300799999999.9223372036854775807',
      'cursor=0.0',
      'date_after=9999-12-31',
      'date_after=2024-02-29&date_before=2024-02-29',
      'limit=0250&page=1000000',
      // the canonical name wins over its alias
      'customer=cust-q&customer.key=other',
    ],
    params: {
      limit: integer('251'),
      page: integer('1000001'),
      sort: ['', 'up', 'ASC', '%00'],
      status: ['', 'nope', 'ACTIVE', '%00'],
      key: text,
      customer: text,
      'customer.key': text,
      partner_key: text,
      'partner.key': text,
      partner_email: text,
      date_after: ['0000-01-01', '1969-12-31', '2026-02-30', '2025-02-29', '2026-13-01', '2026-1-1', '10000-01-01', '+010000-01-01', '2026-01-01T00:00:00Z', '%00', ''],
      date_before: ['9999-12-31', '0000-01-01', '1969-12-31', '2026-02-30', '2026-04-31', '10000-01-01', '%00', ''],
      cursor: [
        '99999999999999999999.1',
        '1.99999999999999999999',
        '9223372036854775807.1',
        '1.9223372036854775808',
        // past the last microsecond a date filter reaches
        '253402300800000000.1',
        '-1.1',
        '1',
        '1.',
        '.1',
        '1.2.3',
        '1.1%20',
        '%00',
        'abc',
        '',
      ],
    },
  },
  { name: 'GET /v1/customers', path: () => '/v1/customers', accepted: ['limit=250&page=1', 'limit=0250&page=1000000'], params: { limit: integer('251'), page: integer('1000001') } },
  { name: 'GET /v1/partners', path: () => '/v1/partners', accepted: ['limit=250&page=1', 'limit=0250&page=1000000'], params: { limit: integer('251'), page: integer('1000001') } },
  {
    name: 'GET /v1/webhooks/{key}/deliveries',
    path: () => deliveriesPath,
    accepted: ['limit=250&page=1&status=failed', 'limit=0250&page=1000000'],
    params: { limit: integer('251'), page: integer('1000001'), status: ['', 'nope', 'active', 'FAILED', '%00'] },
  },
];

describe('hostile query strings on the REST API lists', () => {
  it('the values from the issue: a cursor past bigint and dates out of range are a 422 naming the field', async () => {
    for (const [query, field] of [
      ['cursor=99999999999999999999.1', 'cursor'],
      ['cursor=1.99999999999999999999', 'cursor'],
      ['date_before=9999-12-31', 'date_before'],
      ['date_after=0000-01-01', 'date_after'],
    ] as const) {
      const r = await get('/v1/transactions', query);
      expect({ query, status: r.status, code: r.body?.error?.code, fields: Object.keys(r.body?.error?.fields ?? {}) }).toEqual({ query, status: 422, code: 'validation_failed', fields: [field] });
    }
    expect((await get('/v1/transactions', 'limit=1')).status).toBe(200);
  });

  it.each(lists.map((l) => [l.name, l] as const))('%s: normal requests answer 200; every hostile value of every parameter is a 422 naming it', async (_name, list) => {
    const normal = await get(list.path(), list.accepted[0]!);
    expect(normal.status).toBe(200);
    if (!list.name.endsWith('deliveries')) expect(normal.body.data.length).toBeGreaterThan(0);
    for (const query of list.accepted) expect({ query, status: (await get(list.path(), query)).status }).toEqual({ query, status: 200 });
    const wrong: string[] = [];
    for (const [param, values] of Object.entries(list.params)) {
      for (const query of [...values.map((v) => `${param}=${v}`), ...shapes(param, '1')]) {
        const r = await get(list.path(), query);
        const fields = Object.keys(r.body?.error?.fields ?? {});
        if (r.status !== 422 || r.body?.error?.code !== 'validation_failed' || fields.join() !== param) {
          wrong.push(`${query.slice(0, 60)} → ${r.status} ${JSON.stringify(r.body?.error ?? r.body).slice(0, 160)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('a parameter beside its bracket form is a 422 naming it, by the name the client used; the same value twice is never a 5xx', async () => {
    for (const list of lists) {
      for (const param of Object.keys(list.params)) {
        const valid = new URLSearchParams(list.accepted[0]).get(param) ?? (param === 'cursor' ? '1.1' : 'x');
        const twice = await get(list.path(), `${param}=${valid}&${param}=${valid}`);
        expect(twice.status, `${list.name} ${param} twice`).toBeLessThan(500);
        if (twice.status === 422) expect(Object.keys(twice.body.error.fields)).toEqual([param]);
        const both = await get(list.path(), `${param}=${valid}&${param}[x]=${valid}`);
        expect({ list: list.name, param, status: both.status, fields: Object.keys(both.body?.error?.fields ?? {}) }).toEqual({ list: list.name, param, status: 422, fields: [param] });
      }
    }
  });
});
