import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, revokeApiKey } from '../../src/db/api-keys.js';
import { defaultKeyState, ensureDefaultProgram } from '../../src/db/default-program.js';
import { apiKeys, programs } from '../../src/db/schema.js';
import { defaultProgramFrom } from '../../src/service.js';
import { testConfig } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let t: TestDatabase;
/** The default program as start-up derives it from this environment. */
const env = (vars: Record<string, string>) => defaultProgramFrom(testConfig(vars));
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

describe('the default program from the environment', () => {
  it('is created once and updated on every start, keeping its identity', async () => {
    const first = await ensureDefaultProgram(
      t.db,
      env({ STRIPE_WEBHOOK_SECRET: 'whsec_old', API_KEY: 'key-one' }),
    );
    const again = await ensureDefaultProgram(
      t.db,
      env({ STRIPE_WEBHOOK_SECRET: 'whsec_new,whsec_old', API_KEY: 'key-one' }),
    );
    expect(again).toBe(first);
    const rows = await t.db.select().from(programs);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.gateways.stripe?.webhookSecrets).toEqual(['whsec_new', 'whsec_old']);
    expect(rows[0]!.commission.type).toBe('percent');
    expect(rows[0]!.publicKey).toMatch(/^pk_/);
  });

  it('stores only the hash of API_KEY, and a changed API_KEY retires the old one', async () => {
    const id = await ensureDefaultProgram(t.db, env({ API_KEY: 'key-one' }));
    let keys = await t.db.select().from(apiKeys).where(eq(apiKeys.programId, id));
    expect(keys.map((k) => k.keyHash)).toEqual([hashApiKey('key-one')]);
    expect(JSON.stringify(keys)).not.toContain('key-one');

    await ensureDefaultProgram(t.db, env({ API_KEY: 'key-two' }));
    keys = await t.db.select().from(apiKeys).where(eq(apiKeys.programId, id));
    expect(keys.map((k) => k.keyHash)).toEqual([hashApiKey('key-two')]);

  });

  it('keeps the key API_KEY set when a start has no API_KEY: it stays valid until changed or revoked', async () => {
    const id = await ensureDefaultProgram(t.db, env({ API_KEY: 'key-kept' }));
    await ensureDefaultProgram(t.db, env({}));
    let keys = await t.db.select().from(apiKeys).where(eq(apiKeys.programId, id));
    expect(keys.map((k) => [k.keyHash, k.revokedAt])).toEqual([[hashApiKey('key-kept'), null]]);
    expect(await defaultKeyState(t.db, id)).toEqual({ env: 'active', others: 0 });

    // revoked by the operator: it stays revoked, even while the environment still names it
    await revokeApiKey(t.db, keys[0]!.id, undefined, { allowEnv: true });
    await ensureDefaultProgram(t.db, env({ API_KEY: 'key-kept' }));
    keys = await t.db.select().from(apiKeys).where(eq(apiKeys.programId, id));
    expect(keys).toHaveLength(1);
    expect(keys[0]!.revokedAt).toBeInstanceOf(Date);
    expect(await defaultKeyState(t.db, id)).toEqual({ env: 'revoked', others: 0 });
  });
});
