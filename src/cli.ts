// `npm run cli -- <command> [options]`: operator commands. Each command is one entry in COMMANDS.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.js';
import { connect, ensureDatabase, runMigrations, type Database } from './db/client.js';

export type CliContext = { config: Config; database: Database; args: string[]; out: (line: string) => void };
export type CliCommand = { summary: string; run(ctx: CliContext): Promise<number> };

const COMMANDS: Record<string, CliCommand> = {};

type OptionSpec = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** Parse a command's own options; an unknown option is an error. */
export function options<T extends OptionSpec>(args: string[], spec: T) {
  return parseArgs({ args, options: spec, allowPositionals: false, strict: true }).values;
}

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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`partner-ledger: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
