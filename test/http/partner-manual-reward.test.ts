// A manual reward (POST /v1/partners/{id}/reward, n8n's "Add Reward"): credited by hand, tied to no
// transaction, counted in the partner's earnings like its commissions; bad input a 422 naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { wire } from './partnero/wire.js';

const KEY = 'pl_test_manual_reward_key';
let svc: TestService;
let partnerId = '';

/** n8n's request: JSON body with the fields the node's routing sends (Additional Fields only when filled). */
const n8n = (method: string, path: string, body?: unknown) =>
  wire(svc.url, method, `/v1${path}`, {
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${KEY}`, accept: 'application/json', 'content-type': 'application/json' },
  });

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
  partnerId = (await n8n('POST', '/partners', { key: 'mr-p', email: 'mr-p@example.com' })).body.data.id;
  // a commission first: 20% of 100 USD by the default rules (asserted below through the earnings)
  const t = await n8n('POST', '/transactions', { key: 'mr-t1', amount: 100, customer: { key: 'mr-c', partner: { key: 'mr-p' } }, options: { create_customer: true } });
  expect(t.status).toBe(201);
});
afterAll(async () => {
  await svc?.stop();
});

describe('POST /v1/partners/{id}/reward', () => {
  it("n8n's Add Reward: amount, date without a zone and note; counted in the earnings beside the commission", async () => {
    const commission = (await n8n('GET', '/transactions/mr-t1')).body.data.rewards[0];
    const r = await n8n('POST', `/partners/${partnerId}/reward`, { amount: 25.5, date: '2026-11-01T09:30:00', note: 'Launch bonus' });
    expect({ status: r.status, type: r.type }).toEqual({ status: 201, type: 'application/json' });
    expect(r.body).toMatchObject({
      status: 1,
      data: { kind: 'manual', partner: 'mr-p', transaction: null, amount: 25.5, amount_units: 'USD', is_currency: true, status: 'ok', note: 'Launch bonus', created_at: '2026-11-01T09:30:00.000000Z' },
    });
    // only the amount (Additional Fields left empty), in another currency
    expect((await n8n('POST', '/partners/mr-p/reward', { amount: 10, currency: 'eur' })).body.data).toMatchObject({ amount: 10, amount_units: 'EUR', note: null });

    const rewards = await n8n('GET', `/partners/${partnerId}/rewards`);
    expect(rewards.body.data.map((x: { kind: string; amount: number; transaction: string | null }) => [x.kind, x.amount, x.transaction])).toEqual([
      ['manual', 10, null],
      ['commission', commission.amount, 'mr-t1'],
      ['manual', 25.5, null],
    ]);
    expect(rewards.body.meta).toMatchObject({ total: 3 });

    const earnings = (await n8n('GET', '/partners/mr-p/earnings')).body.data;
    expect(earnings).toEqual({
      partner: 'mr-p',
      earnings: [
        { amount_units: 'EUR', is_currency: true, total: 10, approved: 10, in_review: 0, rewards: 1, manual_rewards: 1 },
        { amount_units: 'USD', is_currency: true, total: commission.amount + 25.5, approved: commission.amount + 25.5, in_review: 0, rewards: 2, manual_rewards: 1 },
      ],
    });
  });

  it('refuses bad input with 422 naming the field, an unknown partner with 404, a deleted one with 409', async () => {
    const bad = async (body: unknown) => {
      const r = await n8n('POST', '/partners/mr-p/reward', body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body.error.code).toBe('validation_failed');
      return Object.keys(r.body.error.fields);
    };
    expect(await bad({})).toEqual(['amount']);
    expect(await bad({ amount: 0 })).toEqual(['amount']);
    expect(await bad({ amount: -5 })).toEqual(['amount']);
    expect(await bad({ amount: '1.005' })).toEqual(['amount']);
    expect(await bad({ amount: 'lots' })).toEqual(['amount']);
    expect(await bad({ amount: 5, currency: 'EURO' })).toEqual(['currency']);
    expect(await bad({ amount: 5, date: '2999-01-01T00:00:00' })).toEqual(['date']);
    expect(await bad({ amount: 5, note: 'x'.repeat(1001) })).toEqual(['note']);

    expect((await n8n('POST', '/partners/nobody/reward', { amount: 5 })).body).toMatchObject({ error: { code: 'not_found' } });
    await n8n('POST', '/partners', { key: 'mr-gone' });
    await n8n('DELETE', '/partners/mr-gone');
    const gone = await n8n('POST', '/partners/mr-gone/reward', { amount: 5 });
    expect(gone).toMatchObject({ status: 409, body: { error: { code: 'deleted' } } });
    // nothing of the refused ones was kept
    expect((await n8n('GET', '/partners/mr-p/rewards')).body.meta.total).toBe(3);
  });
});
