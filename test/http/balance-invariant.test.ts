// The money loop's invariant, over random sequences a merchant produces: sales, partial and full
// refunds, lost disputes, deletes, payout requests approved, rejected and paid, clawbacks netted, and
// reversals (a refund the gateway took back, a lost dispute won after all).
// At every step, for every partner and currency, pending + available + in_payout + paid − clawback
// is the sum of the partner's live rewards as they stand. Sales, deletes and payouts through the REST
// API; refunds and disputes as the worker applies a gateway's events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEvents } from '../../src/db/ledger.js';
import { loadProgramRules } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { prng } from '../support/deliveries.js';
import { dispute, refund } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_balance_invariant_key';
let svc: TestService;
const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
});
afterAll(async () => {
  await svc?.stop();
});

/** Exact decimals as micro-units (rewards here have at most 6 decimals): no float is summed. */
const micros = (v: string) => {
  const [w = '0', f = ''] = v.split('.');
  const sign = w.startsWith('-') ? -1n : 1n;
  return sign * (BigInt(w.replace('-', '')) * 1_000_000n + BigInt((f + '000000').slice(0, 6)));
};

async function checkInvariant(partners: string[], step: string) {
  for (const p of partners) {
    const { rows } = await svc.db.pool.query(
      `select upper(r.units) as currency, coalesce(sum(r.amount) filter (where r.deleted_at is null and r.status <> 'rejected'), 0)::text as live
       from rewards r join partners p on p.id = r.partner_id where p.program_id = $1 and p.key = $2 and r.is_currency group by 1`,
      [svc.programId, p],
    );
    const live = new Map(rows.map((r: { currency: string; live: string }) => [r.currency, micros(r.live)]));
    const res = await api('GET', `/v1/partners/${p}/balance`);
    expect(res.status).toBe(200);
    for (const b of res.body.data.balances as Record<string, string>[]) {
      const sum = micros(b.pending!) + micros(b.available!) + micros(b.in_payout!) + micros(b.paid!) - micros(b.clawback!);
      expect({ step, partner: p, currency: b.currency, sum }).toEqual({ step, partner: p, currency: b.currency, sum: live.get(b.currency!) ?? 0n });
    }
  }
}

describe('balances', () => {
  it.each([11, 29, 4242, 7, 1001])('hold pending + available + in_payout + paid − clawback = live rewards at every step (seed %i)', { timeout: 120_000 }, async (seed) => {
    const random = prng(seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    const partners = [`INV${seed}_A`, `INV${seed}_B`];
    for (const p of partners) expect((await api('POST', '/v1/partners', { key: p, email: `${p.toLowerCase()}@example.com` })).status).toBe(201);
    const program = (await loadProgramRules(svc.db.db, svc.programId))!;
    const sales: { key: string; currency: string; minor: number }[] = [];
    const requests: { id: number; status: string }[] = [];
    const refunds: { id: string; key: string; currency: string; part: number }[] = [];
    const lost: string[] = [];
    let n = 0;
    for (let step = 0; step < 70; step++) {
      const roll = random();
      let what: string;
      if (roll < 0.32 || sales.length < 2) {
        const currency = pick(['USD', 'USD', 'EUR']);
        const minor = 1000 + Math.floor(random() * 20_000);
        const key = `inv${seed}_${++n}`;
        const r = await api('POST', '/v1/transactions', {
          key,
          amount: (minor / 100).toFixed(2),
          amount_units: currency,
          options: { create_customer: true },
          customer: { key: `c${seed}_${n % 5}`, partner: { key: pick(partners) } },
          partner: { key: pick(partners) },
        });
        expect(r.status).toBe(201);
        sales.push({ key, currency, minor });
        what = `sale ${key}`;
      } else if (roll < 0.45) {
        const s = pick(sales);
        const part = 1 + Math.floor(random() * s.minor * 0.6);
        const id = `re_${seed}_${step}`;
        await applyEvents(svc.db.db, program, [refund([s.key], { refundId: id, amount: { minor: String(part), currency: s.currency } })]);
        refunds.push({ id, key: s.key, currency: s.currency, part });
        what = `refund ${part} of ${s.key}`;
      } else if (roll < 0.52) {
        if (!refunds.length) continue;
        const f = pick(refunds);
        await applyEvents(svc.db.db, program, [refund([f.key], { refundId: f.id, amount: { minor: String(f.part), currency: f.currency }, reversed: true })]);
        what = `refund ${f.id} of ${f.key} reversed`;
      } else if (roll < 0.56) {
        const s = pick(sales);
        await applyEvents(svc.db.db, program, [dispute([s.key], 'lost', { disputeId: `dp_${s.key}` })]);
        lost.push(s.key);
        what = `dispute lost ${s.key}`;
      } else if (roll < 0.58) {
        if (!lost.length) continue;
        const key = pick(lost);
        await applyEvents(svc.db.db, program, [dispute([key], 'won', { disputeId: `dp_${key}` })]);
        what = `dispute won after lost ${key}`;
      } else if (roll < 0.62) {
        const s = pick(sales);
        expect([200, 404]).toContain((await api('DELETE', `/v1/transactions/${s.key}`)).status);
        what = `delete ${s.key}`;
      } else if (roll < 0.78) {
        const r = await api('POST', '/v1/payout_requests', { partner: { key: pick(partners) }, amount_units: pick(['USD', 'EUR']) });
        expect([201, 422]).toContain(r.status);
        if (r.status === 201) requests.push({ id: r.body.data.id, status: 'requested' });
        what = `request ${r.status}`;
      } else {
        const open = requests.filter((q) => q.status === 'requested' || q.status === 'approved');
        if (!open.length) continue;
        const q = pick(open);
        const action = q.status === 'requested' ? pick(['approve', 'approve', 'reject']) : pick(['mark_as_paid', 'mark_as_paid', 'reject']);
        const r = await api('POST', `/v1/payout_requests/${q.id}/${action}`, action === 'mark_as_paid' ? { reference: `R${q.id}` } : undefined);
        expect([200, 409]).toContain(r.status);
        if (r.status === 200) q.status = action === 'approve' ? 'approved' : action === 'reject' ? 'rejected' : 'finished';
        what = `${action} ${q.id} ${r.status}`;
      }
      await checkInvariant(partners, `${step}: ${what}`);
    }
    // the sequences did reach clawbacks (a refund, dispute or delete after approval)
    const { rows } = await svc.db.pool.query(`select count(*)::int as n from clawbacks where program_id = $1`, [svc.programId]);
    expect(rows[0].n).toBeGreaterThan(0);
    // last, a refund that made a partner owe money back is taken back by the gateway
    const { rows: owed } = await svc.db.pool.query(
      `select f.refund_id, f.amount_minor::text, f.currency, t.key from clawbacks c join refunds f on f.id = c.refund_id
       join transactions t on t.id = f.transaction_id join partners p on p.id = c.partner_id
       where c.program_id = $1 and p.key = any($2) and c.cancelled_at is null and c.amount > 0 and f.reversed_at is null order by c.id limit 1`,
      [svc.programId, partners],
    );
    if (owed[0]) {
      const f = owed[0] as { refund_id: string; amount_minor: string; currency: string; key: string };
      const before = (await svc.db.pool.query(`select count(*)::int as n from clawbacks where program_id = $1 and (cancelled_at is not null or amount < 0)`, [svc.programId])).rows[0].n;
      await applyEvents(svc.db.db, program, [refund([f.key], { refundId: f.refund_id, amount: { minor: f.amount_minor, currency: f.currency }, reversed: true })]);
      await checkInvariant(partners, `last: refund ${f.refund_id} of ${f.key} reversed`);
      const after = (await svc.db.pool.query(`select count(*)::int as n from clawbacks where program_id = $1 and (cancelled_at is not null or amount < 0)`, [svc.programId])).rows[0].n;
      expect(after).toBeGreaterThan(before);
      clawbacksReversed++;
    }
  });

  it('reached a clawback undone by a reversal in some sequence', () => {
    expect(clawbacksReversed).toBeGreaterThan(0);
  });
});
let clawbacksReversed = 0;
