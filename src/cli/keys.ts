// `npm run cli -- keys:create --program <id> [--name <name>]`, `keys:list [--program <id>]`,
// `keys:revoke <id>`: a program's API keys, for the operator. The same rules as /v1/api-keys: a new key
// is printed once, lists show a prefix, and the API_KEY of the environment is managed there.
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { createApiKey, ENV_KEY_MESSAGE, isUuid, listApiKeys, MAX_ACTIVE_API_KEYS, maskedKey, revokeApiKey } from '../db/api-keys.js';
import { DEFAULT_PROGRAM_SLUG } from '../db/default-program.js';
import { programs } from '../db/schema.js';
import type { CliCommand, CliContext } from './command.js';

type Spec = { name: string; usage: string; summary: string; options: Record<string, { type: 'string' | 'boolean' }>; positionals: number };

/**
 * The command's options and positionals, or the exit code after printing the usage line: 0 for
 * --help, 2 for anything the command cannot take.
 */
function read(spec: Spec, ctx: CliContext): { values: Record<string, string | boolean | undefined>; positionals: string[] } | number {
  const usage = `usage: npm run cli -- ${spec.name} ${spec.usage}`;
  try {
    const { values, positionals } = parseArgs({
      args: ctx.args,
      options: { ...spec.options, help: { type: 'boolean' } },
      allowPositionals: spec.positionals > 0,
      strict: true,
    });
    if (values.help) {
      ctx.out(`${usage}\n${spec.summary}`);
      return 0;
    }
    if (positionals.length !== spec.positionals) throw new Error(spec.positionals ? `expected ${spec.positionals} argument` : 'expected no argument');
    return { values, positionals };
  } catch (err) {
    ctx.out(`${spec.name}: ${(err as Error).message}\n${usage}`);
    return 2;
  }
}

function usageError(spec: Spec, ctx: CliContext, message: string): number {
  ctx.out(`${spec.name}: ${message}\nusage: npm run cli -- ${spec.name} ${spec.usage}`);
  return 2;
}

const CREATE: Spec = {
  name: 'keys:create',
  usage: '[--program <id>] [--name <name>]',
  summary: 'create an API key and print it (shown once): [--program <id>] (default: the default program) [--name <name>]',
  options: { program: { type: 'string' }, name: { type: 'string' } },
  positionals: 0,
};

export const keysCreate: CliCommand = {
  summary: CREATE.summary,
  usage: `usage: npm run cli -- ${CREATE.name} ${CREATE.usage}\n\n${CREATE.summary}`,
  async run(ctx) {
    const args = read(CREATE, ctx);
    if (typeof args === 'number') return args;
    const given = args.values.program as string | undefined;
    const name = ((args.values.name as string | undefined) ?? '').trim();
    if (given !== undefined && !isUuid(given)) return usageError(CREATE, ctx, '--program: a program id (a uuid)');
    let program = given;
    if (program === undefined) {
      const [row] = await ctx.database.db.select({ id: programs.id }).from(programs).where(eq(programs.slug, DEFAULT_PROGRAM_SLUG));
      if (!row) {
        ctx.out('keys:create: there is no default program yet (start the service once, or pass --program)');
        return 1;
      }
      program = row.id;
    }
    if (name.length > 100 || name.includes('\u0000')) return usageError(CREATE, ctx, '--name: at most 100 characters, no NUL');
    const created = await createApiKey(ctx.database.db, { programId: program, name, source: 'cli' });
    if (created === 'no_program') {
      ctx.out(`keys:create: no program with id ${program}`);
      return 1;
    }
    if (created === 'too_many') {
      ctx.out(`keys:create: the program holds ${MAX_ACTIVE_API_KEYS} API keys that are not revoked: revoke one first`);
      return 1;
    }
    ctx.out(`program:  ${program}`);
    ctx.out(`key id:   ${created.row.id}`);
    ctx.out(`api key:  ${created.key}    (shown once: store it now)`);
    return 0;
  },
};

const LIST: Spec = {
  name: 'keys:list',
  usage: '[--program <id>]',
  summary: "list a program's API keys, masked: [--program <id>] (default: the default program)",
  options: { program: { type: 'string' } },
  positionals: 0,
};

const when = (d: Date | null) => (d ? d.toISOString() : '-');

export const keysList: CliCommand = {
  summary: LIST.summary,
  usage: `usage: npm run cli -- ${LIST.name} ${LIST.usage}\n\n${LIST.summary}`,
  async run(ctx) {
    const args = read(LIST, ctx);
    if (typeof args === 'number') return args;
    const given = args.values.program as string | undefined;
    if (given !== undefined && !isUuid(given)) return usageError(LIST, ctx, '--program: a program id (a uuid)');
    const db = ctx.database.db;
    const [program] = await db
      .select({ id: programs.id })
      .from(programs)
      .where(given === undefined ? eq(programs.slug, DEFAULT_PROGRAM_SLUG) : eq(programs.id, given));
    if (!program) {
      ctx.out(given === undefined ? 'keys:list: there is no default program yet (start the service once, or pass --program)' : `keys:list: no program with id ${given}`);
      return 1;
    }
    const { rows } = await listApiKeys(db, program.id);
    ctx.out(`program: ${program.id}`);
    ctx.out(['id'.padEnd(36), 'key'.padEnd(10), 'source', 'created_at'.padEnd(24), 'last_used_at'.padEnd(24), 'revoked_at'.padEnd(24), 'name'].join('  '));
    for (const k of rows) {
      ctx.out([k.id, maskedKey(k.prefix).padEnd(10), k.source.padEnd(6), when(k.createdAt).padEnd(24), when(k.lastUsedAt).padEnd(24), when(k.revokedAt).padEnd(24), k.name].join('  '));
    }
    return 0;
  },
};

const REVOKE: Spec = {
  name: 'keys:revoke',
  usage: '<key id>',
  summary: 'revoke an API key at once: <key id> (as keys:list shows it)',
  options: {},
  positionals: 1,
};

export const keysRevoke: CliCommand = {
  summary: REVOKE.summary,
  usage: `usage: npm run cli -- ${REVOKE.name} ${REVOKE.usage}\n\n${REVOKE.summary}`,
  async run(ctx) {
    const args = read(REVOKE, ctx);
    if (typeof args === 'number') return args;
    const id = args.positionals[0]!;
    if (!isUuid(id)) return usageError(REVOKE, ctx, 'the key id is a uuid (keys:list shows it)');
    const outcome = await revokeApiKey(ctx.database.db, id, undefined, { allowEnv: true });
    if (outcome === 'not_found') {
      ctx.out(`keys:revoke: no API key with id ${id}`);
      return 1;
    }
    if ('env' in outcome) {
      ctx.out(`keys:revoke: ${ENV_KEY_MESSAGE}`);
      return 1;
    }
    const k = outcome.revoked;
    ctx.out(`revoked:  ${k.id} (${maskedKey(k.prefix)}, program ${k.programId}) at ${when(k.revokedAt)}`);
    if (k.source === 'env') ctx.out('this was API_KEY from the environment: it stays revoked while API_KEY names it; set another API_KEY, or create a key with keys:create');
    return 0;
  },
};
