// Many jobs in one database transaction: each still all-or-nothing, no deadlock between batches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgramRules } from '../../src/core/program.js';
import { applyBatch, LedgerDataError, lock, lockNames, type JobEvents } from '../../src/db/ledger.js';
import { splitBusy } from '../../src/db/ledger-batch.js';
import { customers, rewards, transactions } from '../../src/db/schema.js';
import { LedgerBatcher } from '../../src/worker/batcher.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { count, createPartner, createProgram, payment, refund, stored } from '../support/ledger.js';

let t: TestDatabase;
let program: ProgramRules;
beforeAll(async () => {
  t = await createTestDatabase();
  program = await createProgram(t.db);
  await createPartner(t.db, program.id, 'P1');
});
afterAll(async () => {
  await t.drop();
});

const key = { value: 'P1', place: 'stripe_charge_metadata' } as const;

describe('applyBatch', () => {
  it('applies the good jobs of a batch and refuses the bad ones alone', async () => {
    const jobs: JobEvents[] = Array.from({ length: 30 }, (_, i) => ({
      program,
      events: [
        i === 10
          ? payment({ customer: { id: `cus_b${i}` }, amount: { minor: '100', currency: 'ZZZ' } })
          : payment({ customer: { id: `cus_b${i}` }, partnerKey: key, aliases: [`ch_b${i}`] }),
      ],
    }));
    // job 20: a refund in another currency than its payment (job 19's)
    jobs[20] = { program, events: [refund(['ch_b19'], { amount: { minor: '100', currency: 'EUR' } })] };
    const results = await applyBatch(t.db, jobs);
    expect(results.filter((r) => r.ok)).toHaveLength(28);
    expect(results[10]).toMatchObject({ ok: false });
    expect(results[20]).toMatchObject({ ok: false });
    expect((results[20] as { error: unknown }).error).toBeInstanceOf(LedgerDataError);
    expect(await stored(t.db, program.id, (jobs[10]!.events[0] as { transactionKey: string }).transactionKey)).toBeNull();
    expect((await stored(t.db, program.id, (jobs[19]!.events[0] as { transactionKey: string }).transactionKey))?.refundedMinor).toBe(0n);
    expect(await count(t.db, transactions, program.id)).toBe(28);
  });

  it('concurrent batches over the same customers and payments neither deadlock nor double count', async () => {
    const p = await createProgram(t.db);
    await createPartner(t.db, p.id, 'P1');
    const batchers = [new LedgerBatcher(t.db, { maxSize: 10, waitMs: 1, maxInFlight: 2 }), new LedgerBatcher(t.db, { maxSize: 10 }), new LedgerBatcher(t.db, { maxSize: 7, waitMs: 2 })];
    const events = Array.from({ length: 150 }, (_, i) =>
      payment({ eventId: `evt_c${i % 60}`, transactionKey: `pi_c${i % 60}`, aliases: [`ch_c${i % 60}`], customer: { id: `cus_c${i % 9}`, email: `c${i % 9}@example.com` }, partnerKey: key }),
    );
    const refunds = Array.from({ length: 20 }, (_, i) => refund([`ch_c${i}`], { refundId: `re_c${i}` }));
    const all = [...events, ...refunds].sort(() => Math.random() - 0.5);
    await Promise.all(all.map((e, i) => batchers[i % batchers.length]!.apply({ program: p, events: [e] })));
    expect(await count(t.db, transactions, p.id)).toBe(60);
    expect(await count(t.db, rewards, p.id)).toBe(60);
    expect(await count(t.db, customers, p.id)).toBe(9);
    const rows = await t.db.select().from(transactions);
    expect(rows.filter((r) => r.programId === p.id && r.deletedAt !== null)).toHaveLength(20);
  });

  it('does not make a whole batch wait for a lock held elsewhere: the jobs it blocks go after', async () => {
    const p = await createProgram(t.db);
    await createPartner(t.db, p.id, 'P1');
    const held = payment({ transactionKey: 'pi_held', customer: { id: 'cus_held', email: 'held@example.com' }, partnerKey: key });
    const jobs: JobEvents[] = [
      { program: p, events: [held] },
      // the same customer, later: must keep its order behind the blocked one
      { program: p, events: [payment({ transactionKey: 'pi_held2', customer: { id: 'cus_held', email: 'held@example.com' }, partnerKey: key })] },
      ...Array.from({ length: 5 }, (_, i) => ({ program: p, events: [payment({ transactionKey: `pi_free${i}`, customer: { id: `cus_free${i}` }, partnerKey: key })] })),
    ];
    // another transaction (another worker's batch) holds the customer's lock for a while
    let release!: () => void;
    const holding = t.db.transaction(async (tx) => {
      await lock(tx, lockNames(p.id, held).filter((n) => n.includes('|customer|')));
      await new Promise<void>((r) => (release = r));
    });
    await new Promise((r) => setTimeout(r, 100));
    const applying = applyBatch(t.db, jobs);
    // the free jobs are committed while the lock is still held
    for (let i = 0; i < 50 && (await count(t.db, transactions, p.id)) < 5; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await count(t.db, transactions, p.id)).toBe(5);
    expect(await stored(t.db, p.id, 'pi_held')).toBeNull();
    release();
    await holding;
    const results = await applying;
    expect(results.every((r) => r.ok)).toBe(true);
    expect(await count(t.db, transactions, p.id)).toBe(7);
  });
});

describe('splitBusy', () => {
  it('defers the jobs needing a busy lock and the later ones sharing a lock with them', () => {
    const names: Record<number, string[]> = { 0: ['a', 'c1'], 1: ['b', 'c2'], 2: ['d', 'c1'], 3: ['e'], 4: ['a2', 'd'] };
    expect(splitBusy([0, 1, 2, 3, 4], (i) => names[i]!, new Set(['c1']))).toEqual({ run: [1, 3], deferred: [0, 2, 4] });
    expect(splitBusy([0, 1], (i) => names[i]!, new Set(['zz']))).toEqual({ run: [0, 1], deferred: [] });
  });
});
