#!/usr/bin/env node
// `npm run cli -- <command> [options]`: operator commands. Each command is one entry in COMMANDS.
// Compiled (dist/src/cli.js), it is `partner-ledger <command>`: the Docker image puts it on PATH, as
// the image has no tsx (no dev dependencies) for `npm run cli`.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.js';
import { connect, runMigrations } from './db/client.js';
import { ensureDatabase } from './db/ensure-database.js';
import { chooseDatabase, type DatabaseChoice } from './embedded-database.js';
import { usageOf, wantsHelp, type CliCommand } from './cli/command.js';
import { keysCreate, keysList, keysRevoke } from './cli/keys.js';
import { payoutsExport, payoutsRun } from './cli/payouts.js';
import { programsCreate } from './cli/programs-create.js';
import { secretsRotate } from './cli/secrets-rotate.js';
import { sendTestWebhook } from './cli/send-test-webhook.js';
import { Keyring, parseSecretKeys, useKeyring } from './db/secret-box.js';

export type { CliCommand, CliContext } from './cli/command.js';
export { options } from './cli/command.js';

export const COMMANDS: Record<string, CliCommand> = {
  'programs:create': programsCreate,
  'secrets:rotate': secretsRotate,
  'keys:create': keysCreate,
  'keys:list': keysList,
  'keys:revoke': keysRevoke,
  'send-test-webhook': sendTestWebhook,
  'payouts:run': payoutsRun,
  'payouts:export': payoutsExport,
  reconcile: {
    summary: 'queue what no webhook delivered: [--gateway stripe|paddle|chargebee|woocommerce (default)] --from YYYY-MM-DD [--to YYYY-MM-DD] [--program <id>] [--dry-run]',
    usage:
      'usage: npm run cli -- reconcile [--gateway stripe|paddle|chargebee|woocommerce] --from YYYY-MM-DD [--to YYYY-MM-DD]\n' +
      '  [--program <id>] [--dry-run]\n\n' +
      "Read the gateway's own record of whole UTC days --from .. --to (default: today): Stripe, Paddle and Chargebee\n" +
      'their events of the types the receiver books, WooCommerce the orders modified. Whatever the inbox lacks is queued\n' +
      'as its webhook would be (source: reconcile), so running it twice books nothing twice. --gateway defaults to\n' +
      'woocommerce; requests are paced at RECONCILE_RPS a second and a 429 is waited out. See docs/reconcile.md.',
    run: async (ctx) => (await import('./cli/reconcile.js')).reconcileCommand(ctx),
  },
  reattribute: {
    summary: 'credit payments that named a partner before it existed: --partner KEY | --lookups [--gateway] [--from] [--program] [--dry-run]',
    usage:
      'usage: npm run cli -- reattribute --partner KEY [--from YYYY-MM-DD|ISO time] [--program <id>] [--dry-run]\n' +
      '       npm run cli -- reattribute --lookups [--gateway stripe|paddle|chargebee] [--from YYYY-MM-DD|ISO time] [--program <id>] [--dry-run]\n\n' +
      'Credit the payments booked to nobody whose partner key named KEY before that partner existed, as a payment booked\n' +
      "now would be (the program's lifetime, holds and caps included). --lookups does again the partner-key lookups skipped\n" +
      "because the gateway's API key was not set, and credits the partner found. --dry-run lists what a run would do.\n" +
      'Running it twice credits nothing twice. See docs/operations.md (re-attribution).',
    run: async (ctx) => (await import('./cli/reattribute.js')).reattributeCommand.run(ctx),
  },
  replay: {
    summary: 're-queue stored webhook events [--gateway] [--program] [--status failed|ignored|retrying|all] [--event]... [--from] [--to] [--dry-run] [--retry-now] [--wait]',
    usage:
      'usage: npm run cli -- replay [--gateway stripe|paddle|woocommerce|chargebee] [--program <id>] [--status failed|ignored|retrying|all]\n' +
      '  [--event <id>]... [--from YYYY-MM-DD|ISO time] [--to YYYY-MM-DD|ISO time] [--limit N] [--dry-run] [--retry-now] [--wait]\n\n' +
      'Re-queue stored webhook events (default: the failed ones) for the worker; --dry-run prints what each would change.\n' +
      '--status retrying lists the events waiting for their next attempt (a gateway API is down) with their last error\n' +
      'and when they run again; --retry-now runs them at once. See docs/operations.md.',
    run: async (ctx) => (await import('./cli/replay.js')).replayCommand.run(ctx),
  },
};

/** Run from the compiled build (the `partner-ledger` command), not from source through tsx. */
const COMPILED = import.meta.url.endsWith('.js');

/** The texts name the command as it was run: `npm run cli -- replay` from a checkout, `partner-ledger replay` compiled. */
export function asRun(text: string, compiled = COMPILED): string {
  return compiled ? text.replaceAll('npm run cli -- ', 'partner-ledger ') : text;
}

function usage(): string {
  return asRun(
    `usage: npm run cli -- <command> [options]   (npm run cli -- <command> --help: its options)\n\ncommands:\n` +
      Object.entries(COMMANDS)
        .map(([n, c]) => `  ${n.padEnd(22)} ${c.summary}`)
        .join('\n') +
      '\n',
  );
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`partner-ledger: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  // help needs no configuration and no database
  if (wantsHelp(args)) {
    process.stdout.write(`${asRun(usageOf(name, command))}\n`);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`partner-ledger: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // commands read and write stored secrets as the service does
  if (config.SECRETS_KEY) useKeyring(new Keyring(parseSecretKeys(config.SECRETS_KEY)));
  // the embedded PostgreSQL: the running service's, or started for this command and stopped after it
  let chosen: DatabaseChoice;
  try {
    chosen = await chooseDatabase(config, process.env, 'cli', (fields, msg) =>
      process.stderr.write(`partner-ledger: ${msg}${fields.owned === true ? ', started for this command and stopped after it' : ''}\n`),
    );
  } catch (err) {
    process.stderr.write(`partner-ledger: ${(err as Error).message}\n`);
    return 1;
  }
  config = chosen.config;
  try {
    await ensureDatabase(config.DATABASE_URL);
    const database = connect(config.DATABASE_URL);
    try {
      await runMigrations(database);
      return await command.run({ config, database, args, out: (line) => process.stdout.write(`${asRun(line)}\n`) });
    } finally {
      await database.close();
    }
  } catch (err) {
    process.stderr.write(`partner-ledger: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await chosen.embedded?.stop();
  }
}

/** Whether this module is the program node was started with: directly, or through a symlink on PATH (`partner-ledger`). */
function isEntryPoint(): boolean {
  const started = process.argv[1];
  if (!started) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(started)).href;
  } catch {
    return import.meta.url === pathToFileURL(started).href;
  }
}

// run only as the entry point, so commands can be imported (and tested) without starting the CLI
if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`partner-ledger: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
