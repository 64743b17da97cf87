// `--help` on the CLI and on every command prints its usage and exits 0, without configuration or a
// database; contradictory and missing flags are refused in plain words.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli.js';
import { createTestDatabase } from '../support/db.js';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');
// help must not need the stores: point the CLI at a database that cannot be reached
const unreachable = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1' };

const run = (args: string[], env: NodeJS.ProcessEnv = unreachable) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, ...args], { env }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

describe('npm run cli -- --help', () => {
  it.each([[['--help']], [['-h']], [[]]])('%j lists every command and exits 0', { timeout: 30_000 }, async (args) => {
    const r = await run(args);
    expect(r.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(r.stdout).toContain(`  ${name}`);
  });

  it('an unknown command is named, with the list, exit 2', { timeout: 30_000 }, async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stderr).toContain('send-test-webhook');
  });

  it.each(Object.keys(COMMANDS))('%s --help prints its usage and exits 0', { timeout: 30_000 }, async (name) => {
    const r = await run([name, '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`usage: npm run cli -- ${name}`);
  });

  it('-h works after other options too', { timeout: 30_000 }, async () => {
    const r = await run(['programs:create', '--name', 'x', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--percent 20 | --fixed 5');
  });
});

describe('programs:create refuses what it cannot do, in plain words', () => {
  it('--percent with --fixed, and a missing --name', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase();
    try {
      const env = { ...process.env, DATABASE_URL: db.url };
      const both = await run(['programs:create', '--name', 'Spring', '--percent', '25', '--fixed', '5'], env);
      expect(both.code).toBe(2);
      expect(both.stdout).toContain('give --percent or --fixed, not both');
      const nameless = await run(['programs:create', '--percent', '25'], env);
      expect(nameless.code).toBe(2);
      expect(nameless.stdout).toContain('--name is required');
      const ok = await run(['programs:create', '--name', 'Spring', '--fixed', '5'], env);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('api key:');
    } finally {
      await db.drop();
    }
  });
});
