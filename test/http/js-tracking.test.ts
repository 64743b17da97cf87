// Browser tracking: the snippet, the public-key endpoint, CORS, review-first rewards, rate limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_js_key';
let svc: TestService;
let publicKey = '';

const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);
async function track(body: unknown, key = publicKey) {
  const res = await fetch(`${svc.url}/v1/js/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-public-key': key, origin: 'https://shop.example.com' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, JS_RATE_LIMIT_PER_MINUTE: '6' });
  await createPartner(svc.db.db, svc.programId, 'P1');
  publicKey = (await api('GET', '/v1/program')).body.data.public_key;
});
afterAll(async () => {
  await svc?.stop();
});

describe('browser tracking', () => {
  it('serves the po() snippet', async () => {
    const res = await fetch(`${svc.url}/js/po.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/javascript');
    const text = await res.text();
    expect(text).toContain('window.po = po');
    expect(text).toContain('/v1/js/transactions');
  });

  it('is off until the program turns it on, and needs the public key (never the API key)', async () => {
    const sale = { key: 'js-0', amount: 10, customer: { key: 'b0' } };
    expect(await track(sale)).toMatchObject({ status: 403, body: { error: { code: 'js_tracking_disabled' } } });
    expect(await track(sale, KEY)).toMatchObject({ status: 401, body: { error: { code: 'invalid_public_key' } } });
    expect((await api('PATCH', '/v1/program', { js_tracking: true })).body.data.js_tracking).toBe(true);
  });

  it('answers CORS preflights and records the sale with its reward held for review', async () => {
    const pre = await fetch(`${svc.url}/v1/js/transactions`, { method: 'OPTIONS', headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')).toContain('x-public-key');

    const r = await track({ key: 'js-1', amount: 49.5, options: { create_customer: true }, customer: { key: 'b1', partner: { key: 'P1' } }, created_at: '2020-01-01', rewardable: false });
    expect(r.status).toBe(201);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    // a browser's keys live apart from the server's and the gateways'
    expect(r.body).toEqual({ data: { key: 'js_js-1', received: true }, status: 1 });
    const t = await api('GET', '/v1/transactions/js_js-1');
    // the server's date, a reward despite "rewardable: false", and held for review
    expect(t.body.data.created_at.startsWith(new Date().toISOString().slice(0, 10))).toBe(true);
    expect(t.body.data.rewards).toMatchObject([{ amount: 9.9, status: 'review_period' }]);
  });

  it('applies the API body rules', async () => {
    expect(await track({ key: 'js-bad', amount: 'a lot', customer: {} })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
  });

  it('rate limits each client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await track({ key: `js-r${i}`, amount: 1, customer: { key: 'b1' } })).status);
    expect(statuses).toContain(429);
    const limited = await track({ key: 'js-r-last', amount: 1, customer: { key: 'b1' } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.error.code).toBe('rate_limited');
  });
});
