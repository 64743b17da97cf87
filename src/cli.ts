// `npm run cli -- <command> [options]`: operator commands. Each command is one entry in COMMANDS.
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.js';
import { connect, runMigrations } from './db/client.js';
import { ensureDatabase } from './db/ensure-database.js';
import type { CliCommand } from './cli/command.js';
import { keysCreate, keysList, keysRevoke } from './cli/keys.js';
import { programsCreate } from './cli/programs-create.js';
import { secretsRotate } from './cli/secrets-rotate.js';
import { Keyring, parseSecretKeys, useKeyring } from './db/secret-box.js';

export type { CliCommand, CliContext } from './cli/command.js';
export { options } from './cli/command.js';

const COMMANDS: Record<string, CliCommand> = {
  'programs:create': programsCreate,
  'secrets:rotate': secretsRotate,
  'keys:create': keysCreate,
  'keys:list': keysList,
  'keys:revoke': keysRevoke,
  reconcile: {
    summary: 'queue what no webhook delivered: [--gateway stripe|paddle|chargebee|woocommerce (default)] --from YYYY-MM-DD [--to YYYY-MM-DD] [--program <id>] [--dry-run]',
    run: async (ctx) => (await import('./cli/reconcile.js')).reconcileCommand(ctx),
  },
  replay: {
    summary: 're-queue stored webhook events [--gateway] [--program] [--status failed|ignored|all] [--event]... [--from] [--to] [--dry-run] [--wait]',
    run: async (ctx) => (await import('./cli/replay.js')).replayCommand.run(ctx),
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(
      `usage: npm run cli -- <command> [options]\n\ncommands:\n${Object.entries(COMMANDS)
        .map(([n, c]) => `  ${n.padEnd(22)} ${c.summary}`)
        .join('\n')}\n`,
    );
    return name ? 2 : 0;
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
  await ensureDatabase(config.DATABASE_URL);
  const database = connect(config.DATABASE_URL);
  try {
    await runMigrations(database);
    return await command.run({ config, database, args, out: (line) => process.stdout.write(`${line}\n`) });
  } catch (err) {
    process.stderr.write(`partner-ledger: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await database.close();
  }
}

// run only as the entry point, so commands can be imported (and tested) without starting the CLI
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`partner-ledger: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
