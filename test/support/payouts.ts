// Booking rewards through the REST API and reading balances, for the payout tests.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { ApiAnswer } from './api.js';

type Api = (method: string, path: string, body?: unknown, key?: string) => Promise<ApiAnswer>;
export type BalanceRow = { currency: string; pending: string; available: string; in_payout: string; paid: string; clawback: string };
export const zero = { pending: '0', available: '0', in_payout: '0', paid: '0', clawback: '0' };

let seq = 0;

export function payoutHelpers(api: Api, defaultKey: string) {
  return {
    /** A sale credited to `partner`: the reward is 20% of `amount` (the default commission). */
    async sale(partner: string, amount: number, currency = 'USD', key = defaultKey) {
      const tag = `${++seq}_${randomBytes(3).toString('hex')}`;
      const r = await api(
        'POST',
        '/v1/transactions',
        { key: `t_${tag}`, amount, amount_units: currency, options: { create_customer: true }, customer: { key: `c_${tag}`, partner: { key: partner } } },
        key,
      );
      expect(r.status).toBe(201);
      expect(r.body.data.rewards).toHaveLength(1);
      return r.body.data.rewards[0] as { key: string; amount: number; status: string };
    },
    async partner(key: string, k = defaultKey) {
      const r = await api('POST', '/v1/partners', { key, email: `${key.toLowerCase()}@partners.example.com` }, k);
      expect(r.status).toBe(201);
      return r.body.data as { id: string; key: string };
    },
    async balance(partnerKey: string, key = defaultKey) {
      const r = await api('GET', `/v1/partners/${partnerKey}/balance`, undefined, key);
      expect(r.status).toBe(200);
      return r.body.data.balances as BalanceRow[];
    },
  };
}
