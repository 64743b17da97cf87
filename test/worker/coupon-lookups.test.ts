// The enrich step's reading of discounts a payment names by id only, as the worker runs a job: codes
// found are added to those the payload carries; a gateway whose API is not set is said so; a failing
// API call is retried like any lookup; a job queued before payments carried codes still runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgramRules } from '../../src/core/program.js';
import { loadProgramRules } from '../../src/db/programs.js';
import { EnrichmentError, type LookupClient } from '../../src/gateways/gateway.js';
import { PaymentJobData } from '../../src/queue/queues.js';
import { processPayment } from '../../src/worker/process-payment.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createPartner, createProgram, stored } from '../support/ledger.js';

let t: TestDatabase;
let program: ProgramRules;
beforeAll(async () => {
  t = await createTestDatabase();
  program = await createProgram(t.db);
  await createPartner(t.db, program.id, 'ptn_nova_22bd');
  await t.pool.query(`insert into promotion_codes (program_id, partner_id, code) select $1, id, 'NOVA20' from partners where program_id = $1 and key = 'ptn_nova_22bd'`, [program.id]);
});
afterAll(async () => {
  await t.drop();
});

let n = 0;
const job = (over: Record<string, unknown>) => {
  n++;
  return PaymentJobData.parse({
    programId: program.id,
    source: 'webhook',
    events: [
      {
        kind: 'payment',
        gateway: 'stripe',
        eventId: `evt_cl_${n}`,
        eventType: 'checkout.session.completed',
        occurredAt: '2026-11-01T10:00:00.000Z',
        transactionKey: `pi_cl_${n}`,
        amount: { minor: '5000', currency: 'USD' },
        customer: { id: `cus_cl_${n}` },
        ...over,
      },
    ],
  });
};
const deps = (client: LookupClient | null) => ({ db: t.db, programs: (id: string) => loadProgramRules(t.db, id), clients: async () => client });
const codes = (answer: () => Promise<string[] | null>): LookupClient => ({ lookup: async () => null, couponCodes: answer });

describe('reading promotion codes named by id', () => {
  it('a code found through the API credits its partner; the lookup is in the trace', async () => {
    const data = job({ couponLookups: [{ gateway: 'stripe', object: 'promotion_code', id: 'promo_1' }] });
    await processPayment(deps(codes(async () => ['nova20'])), data);
    const s = await stored(t.db, program.id, `pi_cl_${n}`);
    expect(s?.partnerKey).toBe('ptn_nova_22bd');
    expect(s?.attribution).toMatchObject({ decided_by: 'coupon', coupon: 'nova20', lookups: [{ place: 'coupon', id: 'promo_1', result: 'found' }] });
  });

  it('without the gateway’s API the code is not read (not_configured); codes the payload carries still count', async () => {
    await processPayment(deps(null), job({ couponLookups: [{ gateway: 'stripe', object: 'promotion_code', id: 'promo_2' }] }));
    expect((await stored(t.db, program.id, `pi_cl_${n}`))?.attribution).toMatchObject({ decided_by: 'none', lookups: [{ place: 'coupon', id: 'promo_2', result: 'not_configured' }] });
    await processPayment(deps(null), job({ coupons: ['Nova20'], couponLookups: [{ gateway: 'stripe', object: 'promotion_code', id: 'promo_3' }] }));
    expect((await stored(t.db, program.id, `pi_cl_${n}`))?.attribution).toMatchObject({ decided_by: 'coupon', coupon: 'Nova20' });
  });

  it('a discount without a code, and one that does not exist, say so', async () => {
    await processPayment(deps(codes(async () => [])), job({ couponLookups: [{ gateway: 'stripe', object: 'invoice', id: 'in_none' }] }));
    expect((await stored(t.db, program.id, `pi_cl_${n}`))?.attribution).toMatchObject({ lookups: [{ place: 'coupon', id: 'in_none', result: 'no_key' }] });
    await processPayment(deps(codes(async () => null)), job({ couponLookups: [{ gateway: 'stripe', object: 'promotion_code', id: 'promo_gone' }] }));
    expect((await stored(t.db, program.id, `pi_cl_${n}`))?.attribution).toMatchObject({ lookups: [{ place: 'coupon', id: 'promo_gone', result: 'not_found' }] });
  });

  it('a transient API failure fails the job for a retry, writing nothing', async () => {
    const failing = codes(async () => {
      throw new EnrichmentError('partner lookup: Stripe API 503 on GET /v1/promotion_codes/promo_4', true);
    });
    await expect(processPayment(deps(failing), job({ couponLookups: [{ gateway: 'stripe', object: 'promotion_code', id: 'promo_4' }] }))).rejects.toMatchObject({ transient: true });
    expect(await stored(t.db, program.id, `pi_cl_${n}`)).toBeNull();
  });

  it('a job queued before payments carried codes runs as it did', async () => {
    const data = job({});
    expect(data.events[0]).not.toHaveProperty('coupons');
    await processPayment(deps(null), data);
    expect((await stored(t.db, program.id, `pi_cl_${n}`))?.attribution).toMatchObject({ decided_by: 'none', coupon: null });
  });
});
