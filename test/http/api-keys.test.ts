// The API key lifecycle, as a client and an operator go through it: /v1/api-keys and the keys:* commands.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/db/api-keys.js';
import { createProgram } from '../../src/db/programs.js';
import { callApi, type ApiAnswer } from '../support/api.js';
import { startTestService, type TestService } from '../support/service.js';

const ENV_KEY = 'pl_test_keys_env_key_0123456789';
let svc: TestService;
let other: { id: string; apiKey: string };

const api = (method: string, path: string, body?: unknown, key: string = ENV_KEY) => callApi(svc.url, method, path, body, key);

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: svc.db.url, LOG_LEVEL: 'silent' },
    encoding: 'utf8',
  });
}

/** The key of a list by its id. */
const listed = (list: ApiAnswer, id: string) => (list.body.data as { id: string }[]).find((k) => k.id === id) as Record<string, unknown> | undefined;

beforeAll(async () => {
  svc = await startTestService({ API_KEY: ENV_KEY });
  other = await createProgram(svc.db.db, { name: 'Other program' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('/v1/api-keys', () => {
  it('creates a second key, shown once, that works; the list shows both masked, with when each was last used', async () => {
    const created = await api('POST', '/v1/api-keys', { name: 'reporting' });
    expect(created).toMatchObject({ status: 201, body: { status: 1, data: { id: expect.any(String), name: 'reporting', source: 'api', revoked_at: null } } });
    const { id, key, prefix, created_at } = created.body.data as { id: string; key: string; prefix: string; created_at: string };
    expect(key).toMatch(/^pl_[A-Za-z0-9_-]{32}$/);
    expect(key.startsWith(prefix)).toBe(true);
    expect(created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    // only the hash is stored
    const stored = await svc.db.pool.query('select key_hash from api_keys where id = $1', [id]);
    expect(stored.rows).toEqual([{ key_hash: hashApiKey(key) }]);

    const program = await api('GET', '/v1/program', undefined, key);
    expect(program.status).toBe(200);
    expect(program.body.data.id).toBe(svc.programId);
    expect((await api('POST', '/v1/partners', { key: 'made-with-second-key' }, key)).status).toBe(201);
    expect((await api('GET', '/v1/partners/made-with-second-key')).status).toBe(200);

    const list = await api('GET', '/v1/api-keys', undefined, key);
    expect(list.body).toMatchObject({ status: 1, meta: { total: 2, current_page: 1, last_page: 1 } });
    expect(list.body.data).toHaveLength(2);
    const env = (list.body.data as Record<string, unknown>[]).find((k) => k.source === 'env')!;
    expect(env).toMatchObject({ name: 'API_KEY', key: `${ENV_KEY.slice(0, 6)}…`, prefix: ENV_KEY.slice(0, 6), current: false, revoked_at: null, last_used_at: expect.any(String) });
    expect(listed(list, id)).toMatchObject({ name: 'reporting', key: `${prefix}…`, source: 'api', current: true, last_used_at: expect.any(String) });
    // never the key or its hash
    for (const secret of [key, ENV_KEY, hashApiKey(key), hashApiKey(ENV_KEY)]) expect(JSON.stringify(list.body)).not.toContain(secret);
    for (const k of list.body.data as Record<string, unknown>[]) expect(Object.keys(k)).not.toContain('key_hash');

    // written once a minute at most, not on every request
    const before = listed(list, id)!.last_used_at;
    await api('GET', '/v1/program', undefined, key);
    expect(listed(await api('GET', '/v1/api-keys'), id)!.last_used_at).toBe(before);

    const page = await api('GET', '/v1/api-keys?limit=1&page=2');
    expect(page.body).toMatchObject({ meta: { total: 2, per_page: 1, last_page: 2, current_page: 2 } });
    expect(page.body.data).toHaveLength(1);
  });

  it('revokes a key at once: its next request is a 401; the list shows when; a second revoke changes nothing', async () => {
    const { id, key } = (await api('POST', '/v1/api-keys', {})).body.data as { id: string; key: string };
    expect((await api('GET', '/v1/partners', undefined, key)).status).toBe(200);
    const revoked = await api('DELETE', `/v1/api-keys/${id}`);
    expect(revoked).toMatchObject({ status: 200, body: { status: 1, data: { id, current: false, revoked_at: expect.any(String) } } });
    expect(revoked.body.data).not.toHaveProperty('warning');
    expect(JSON.stringify(revoked.body)).not.toContain(key);
    for (const [method, path] of [
      ['GET', '/v1/partners'],
      ['GET', '/v1/api-keys'],
      ['POST', '/v1/api-keys'],
    ] as const) {
      const r = await api(method, path, method === 'POST' ? {} : undefined, key);
      expect(r).toEqual({ status: 401, body: { status: 0, message: expect.any(String), error: { code: 'invalid_api_key', message: expect.any(String) } } });
    }
    const again = await api('DELETE', `/v1/api-keys/${id}`);
    expect(again.body.data.revoked_at).toBe(revoked.body.data.revoked_at);
    expect(listed(await api('GET', '/v1/api-keys'), id)).toMatchObject({ revoked_at: revoked.body.data.revoked_at });
  });

  it('lets a key revoke itself, and says so', async () => {
    const { id, key } = (await api('POST', '/v1/api-keys', { name: 'leaked' })).body.data as { id: string; key: string };
    const r = await api('DELETE', `/v1/api-keys/${id}`, undefined, key);
    expect(r).toMatchObject({ status: 200, body: { data: { id, current: true, revoked_at: expect.any(String), warning: expect.stringContaining('revoked') } } });
    expect((await api('GET', '/v1/program', undefined, key)).status).toBe(401);
  });

  it("refuses the environment's API_KEY with a 409 that says what to do, and the key keeps working", async () => {
    const env = (await api('GET', '/v1/api-keys')).body.data.find((k: { source: string }) => k.source === 'env') as { id: string };
    const r = await api('DELETE', `/v1/api-keys/${env.id}`);
    expect(r).toMatchObject({ status: 409, body: { status: 0, error: { code: 'env_api_key' } } });
    expect(r.body.error.message).toMatch(/stays valid until the operator sets another API_KEY .* or revokes it with `npm run cli -- keys:revoke <id>`/);
    expect((await api('GET', '/v1/program')).status).toBe(200);
  });

  it("another program's key is not found, and nothing of it shows; bad ids and bodies are 4xx", async () => {
    const theirs = (await api('GET', '/v1/api-keys', undefined, other.apiKey)).body.data as { id: string }[];
    expect(theirs).toHaveLength(1);
    const r = await api('DELETE', `/v1/api-keys/${theirs[0]!.id}`);
    expect(r).toMatchObject({ status: 404, body: { status: 0, error: { code: 'not_found' } } });
    expect(JSON.stringify((await api('GET', '/v1/api-keys?limit=250')).body)).not.toContain(theirs[0]!.id);
    expect((await api('GET', '/v1/program', undefined, other.apiKey)).status).toBe(200);

    for (const bad of ['not-a-uuid', '00000000-0000-4000-8000-000000000000', '1', `${theirs[0]!.id}x`]) {
      expect((await api('DELETE', `/v1/api-keys/${bad}`)).status, bad).toBe(404);
    }
    expect(await api('POST', '/v1/api-keys', { name: 42 })).toMatchObject({ status: 422, body: { error: { code: 'validation_failed', fields: { name: expect.any(String) } } } });
    expect((await api('POST', '/v1/api-keys', { name: 'x'.repeat(101) })).status).toBe(422);
    expect((await api('POST', '/v1/api-keys', { name: 'a\u0000b' })).status).toBe(422);
    expect((await api('POST', '/v1/api-keys', '[1]')).status).toBe(422);
    expect((await api('POST', '/v1/api-keys', '{')).status).toBe(400);
    expect((await api('GET', '/v1/api-keys?limit=0')).status).toBe(422);
    expect((await api('GET', '/v1/api-keys', undefined, 'pl_nope')).status).toBe(401);
  });
});

// each command is a process of its own (tsx compiling at start): seconds each on a loaded machine
describe('npm run cli -- keys:*', { timeout: 90_000 }, () => {
  it('keys:create prints a key once that works; keys:list shows it masked', async () => {
    const run = cli('keys:create', '--program', other.id, '--name', 'from ops');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const key = /api key:\s+(\S+)/.exec(run.stdout)?.[1];
    const id = /key id:\s+(\S+)/.exec(run.stdout)?.[1];
    expect(key).toMatch(/^pl_/);
    expect((await api('GET', '/v1/program', undefined, key!)).body.data.id).toBe(other.id);
    expect(listed(await api('GET', '/v1/api-keys', undefined, key!), id!)).toMatchObject({ name: 'from ops', source: 'cli', current: true });

    const list = cli('keys:list', '--program', other.id);
    expect(list.status).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toContain(`${key!.slice(0, 6)}…`);
    expect(list.stdout).toContain('from ops');
    expect(list.stdout).not.toContain(key);

    // the default program when --program is not given
    const defaults = cli('keys:list');
    expect(defaults.status).toBe(0);
    expect(defaults.stdout).toContain(`program: ${svc.programId}`);
    expect(defaults.stdout).toMatch(/env\s/);
    expect(defaults.stdout).not.toContain(ENV_KEY);
    expect(defaults.stdout).not.toContain(id);
  });

  it('keys:revoke revokes at once, seen by the service (another process), the env key too', async () => {
    const { id, key } = (await api('POST', '/v1/api-keys', { name: 'to revoke from the CLI' })).body.data as { id: string; key: string };
    expect((await api('GET', '/v1/program', undefined, key)).status).toBe(200);
    const run = cli('keys:revoke', id);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`revoked:  ${id}`);
    expect(await api('GET', '/v1/program', undefined, key)).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });

    const env = (await api('GET', '/v1/api-keys')).body.data.find((k: { source: string }) => k.source === 'env') as { id: string };
    // the operator may revoke the environment's key (a program's own key may not: 409 above)
    const envRevoked = cli('keys:revoke', env.id);
    expect(envRevoked.status).toBe(0);
    expect(envRevoked.stdout).toContain('this was API_KEY from the environment');
    expect((await api('GET', '/v1/program')).status).toBe(401);
    expect(cli('keys:revoke', '00000000-0000-4000-8000-000000000000').status).toBe(1);
  });

  it('bad arguments exit 2 with a usage line', () => {
    for (const args of [
      ['keys:create', '--program', 'nope'],
      ['keys:create', '--program', other.id, '--colour', 'red'],
      ['keys:list', '--program', 'nope'],
      ['keys:list', 'extra'],
      ['keys:revoke'],
      ['keys:revoke', 'not-a-uuid'],
      ['keys:revoke', other.id, other.id],
    ]) {
      const run = cli(...args);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stdout, args.join(' ')).toContain(`usage: npm run cli -- ${args[0]}`);
    }
    // without --program: a key of the default program (what start-up tells an operator with no key to run)
    const forDefault = cli('keys:create');
    expect(forDefault.status).toBe(0);
    expect(forDefault.stdout).toMatch(/api key: {2}\S+ {4}\(shown once/);
    const help = cli('keys:revoke', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: npm run cli -- keys:revoke <key id>');
  });
});
