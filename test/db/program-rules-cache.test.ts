import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cachedProgramRules } from '../../src/db/programs.js';
import { programs } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createProgram } from '../support/ledger.js';

let t: TestDatabase;
/** Queries sent through the pool so far (each takes a connection from it). */
let queries = 0;
beforeAll(async () => {
  t = await createTestDatabase();
  t.pool.on('acquire', () => queries++);
});
afterAll(async () => {
  await t.drop();
});

describe("the worker's cache of program rules", () => {
  it('answers the jobs in flight when an entry is missing or expired with one read, not one each', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const program = await createProgram(t.db, { commission: { value: '12' } });
      const rules = cachedProgramRules(t.db, 5000);
      let before = queries;
      const first = await Promise.all(Array.from({ length: 300 }, () => rules(program.id)));
      expect(queries - before).toBe(1);
      expect(first.every((r) => r?.commission.value === '12')).toBe(true);

      // changed by another process: seen once the entry expires, again through a single read
      await t.db.update(programs).set({ commission: { ...program.commission, value: '15' } }).where(eq(programs.id, program.id));
      before = queries;
      expect((await rules(program.id))?.commission.value).toBe('12');
      vi.advanceTimersByTime(5001);
      const after = await Promise.all(Array.from({ length: 300 }, () => rules(program.id)));
      expect(queries - before).toBe(1);
      expect(after.every((r) => r?.commission.value === '15')).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not keep a read that failed: the next job asks again', async () => {
    const rules = cachedProgramRules(t.db, 5000);
    // not a uuid: PostgreSQL refuses the query
    await expect(rules('not-a-program')).rejects.toThrow();
    const before = queries;
    await expect(rules('not-a-program')).rejects.toThrow();
    expect(queries - before).toBe(1);
  });
});
