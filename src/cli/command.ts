// What a CLI command is, and its option parsing.
import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';

export type CliContext = { config: Config; database: Database; args: string[]; out: (line: string) => void };
export type CliCommand = {
  summary: string;
  /** The full usage text `--help` prints (default: the summary). */
  usage?: string;
  run(ctx: CliContext): Promise<number>;
};

/** `--help` or `-h` anywhere among a command's arguments. */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** The text `npm run cli -- <name> --help` prints. */
export function usageOf(name: string, command: CliCommand): string {
  return command.usage ?? `usage: npm run cli -- ${name} [options]\n\n${command.summary}`;
}

type OptionSpec = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** Parse a command's own options; an unknown option is an error. */
export function options<T extends OptionSpec>(args: string[], spec: T) {
  return parseArgs({ args, options: spec, allowPositionals: false, strict: true }).values;
}
