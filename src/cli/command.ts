// What a CLI command is, and its option parsing.
import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';

export type CliContext = { config: Config; database: Database; args: string[]; out: (line: string) => void };
export type CliCommand = { summary: string; run(ctx: CliContext): Promise<number> };

type OptionSpec = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** Parse a command's own options; an unknown option is an error. */
export function options<T extends OptionSpec>(args: string[], spec: T) {
  return parseArgs({ args, options: spec, allowPositionals: false, strict: true }).values;
}
