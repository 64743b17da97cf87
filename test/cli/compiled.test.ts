// The CLI as the Docker image ships it: compiled by `npm run build` (as the image's build stage does)
// and run by plain node, with no tsx: `--help`, and a real command (`replay --dry-run`) against a test
// database, through a `partner-ledger` symlink on PATH as the image makes it. A resolution hook
// refuses any dev dependency the build imports (the image installs production dependencies only).
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookEvents } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { fixture } from '../support/fixtures.js';
import { createProgram } from '../support/ledger.js';
import { testPrefix } from '../support/redis.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const PROD_ONLY = path.join(ROOT, 'test', 'support', 'prod-only.mjs');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; devDependencies: Record<string, string> };

let db: TestDatabase;
let programId: string;
let bin: string;

/** Run a command with exactly this environment (plus PATH); its exit code and output. */
async function sh(file: string, args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: ROOT, env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  // as the Dockerfile's build stage, then its runtime stage: executable, and on PATH through a symlink
  await run('npm', ['run', 'build'], { cwd: ROOT, timeout: 240_000 });
  chmodSync(CLI, 0o755);
  bin = mkdtempSync(path.join(tmpdir(), 'pl-bin-'));
  symlinkSync(CLI, path.join(bin, 'partner-ledger'));

  db = await createTestDatabase();
  programId = (await createProgram(db.db)).id;
  const event = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8'));
  event.data.object.currency = 'zzz';
  await db.db.insert(webhookEvents).values({
    programId,
    gateway: 'stripe',
    eventId: event.id,
    eventType: event.type,
    rawBody: JSON.stringify(event),
    status: 'failed',
    lastError: 'payload: unknown currency code "zzz"',
  });
}, 300_000);
afterAll(async () => {
  await db?.drop();
  if (bin) rmSync(bin, { recursive: true, force: true });
});

describe('the compiled CLI (partner-ledger)', { timeout: 120_000 }, () => {
  it('is the package bin, starts with a shebang, and imports no tsx or vitest', () => {
    expect(pkg.bin).toEqual({ 'partner-ledger': 'dist/src/cli.js' });
    const text = readFileSync(CLI, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(text).not.toMatch(/from ['"](tsx|vitest)/);
  });

  it('partner-ledger --help lists the commands, named as run, and exits 0', async () => {
    const { code, stdout } = await sh('partner-ledger', ['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: partner-ledger <command> \[options\]/);
    expect(stdout).toContain('  replay ');
    expect(stdout).not.toContain('npm run cli');
    const replay = await sh('node', [CLI, 'replay', '--help']);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/^usage: partner-ledger replay /);
  });

  it('partner-ledger replay --dry-run runs against the database with production dependencies only', async () => {
    const log = path.join(bin, 'imports.log');
    const { code, stdout, stderr } = await sh('node', ['--import', PROD_ONLY, CLI, 'replay', '--dry-run'], {
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: testPrefix(),
      PL_IMPORTS_LOG: log,
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('dry run (nothing is written): replaying failed events from every gateway of every program');
    expect(stdout).toContain('→ would be unreadable: payload: unknown currency code "zzz"');
    expect(stdout).toMatch(/dry run, nothing written: 1 events: .* 1 would fail/);
    // the hook saw the build's imports (so it was on), and none was a dev dependency
    const imported = new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean));
    expect([...imported]).toEqual(expect.arrayContaining(['pg', 'drizzle-orm', 'zod']));
    expect([...imported].filter((n) => n in pkg.devDependencies)).toEqual([]);

    // the same through the symlink on PATH, as `docker compose exec api partner-ledger replay --dry-run`
    const viaPath = await sh('partner-ledger', ['replay', '--dry-run'], { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL });
    expect(viaPath.code).toBe(0);
    expect(viaPath.stdout).toContain('→ would be unreadable');
  });

  it("the compiled service's start-up hint names the command the image has", async () => {
    const { code, stdout } = await sh('node', ['--input-type=module', '-e', "import('./dist/src/startup-summary.js').then((m) => console.log(m.CREATE_KEY_HINT))"]);
    expect(code).toBe(0);
    expect(stdout).toBe('create one: partner-ledger keys:create (or set API_KEY and restart)\n');
  });

  it('the hook does refuse a dev dependency (it is not a check that cannot fail)', async () => {
    const probe = path.join(ROOT, 'dist', 'probe-dev-import.js');
    writeFileSync(probe, "import 'vitest';\n");
    try {
      const { code, stderr } = await sh('node', ['--import', PROD_ONLY, probe]);
      expect(code).not.toBe(0);
      expect(stderr).toContain('the build imports a dev dependency: vitest');
    } finally {
      rmSync(probe, { force: true });
    }
  });
});
