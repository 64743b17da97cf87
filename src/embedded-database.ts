// Which PostgreSQL the service and the CLI use: an explicit DATABASE_URL as is (one that does not
// answer is an error, as ever); the embedded one (src/db/embedded-postgres.ts) for DATABASE_URL=embedded,
// or when DATABASE_URL is unset and nothing answers at its default address, so that a machine with
// only Node.js gets the whole service from `npm ci && npm start`.
import path from 'node:path';
import { DEFAULT_DATABASE_URL, type Config } from './config.js';
import { somethingAnswers, startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded-postgres.js';

export { EmbeddedPostgresError } from './db/embedded-postgres.js';

export type DatabaseChoice = {
  /** The configuration with DATABASE_URL pointing at the database to use. */
  config: Config;
  /** The embedded server, when used: stop() it after the service (or command) has closed its connections. */
  embedded?: EmbeddedPostgres;
  /** How start-up summaries name the database, when embedded. */
  description?: string;
};

type Note = (fields: Record<string, unknown>, message: string) => void;

/** Whether the embedded PostgreSQL is wanted; `answers` asks the default address (127.0.0.1:5432). */
export async function wantsEmbedded(config: Pick<Config, 'DATABASE_URL'>, env: NodeJS.ProcessEnv, answers = defaultAnswers): Promise<boolean> {
  if (config.DATABASE_URL === 'embedded') return true;
  if (env.DATABASE_URL?.trim()) return false;
  return !(await answers());
}

function defaultAnswers(): Promise<boolean> {
  const u = new URL(DEFAULT_DATABASE_URL);
  return somethingAnswers(u.hostname, Number(u.port));
}

/** The database to use, starting the embedded server when it is wanted (`note` tells where it is). */
export async function chooseDatabase(config: Config, env: NodeJS.ProcessEnv, role: 'service' | 'cli', note: Note): Promise<DatabaseChoice> {
  if (!(await wantsEmbedded(config, env))) return { config };
  const embedded = await startEmbeddedPostgres({
    dataDir: config.DATA_DIR,
    role,
    onInitialise: (pgdata) => note({ dataDir: shown(pgdata) }, `initialising the embedded PostgreSQL in ${shown(pgdata)} (first start only: 10-30 s)`),
  });
  const description = `embedded PostgreSQL (${shown(embedded.pgdata)}, port ${embedded.port})`;
  note(
    { dataDir: shown(embedded.pgdata), port: embedded.port, pid: embedded.pid, initialised: embedded.initialised, owned: embedded.owned },
    `database: ${description}${embedded.owned ? '' : ', already running (started by another process, which stops it)'}`,
  );
  const name = new URL(DEFAULT_DATABASE_URL).pathname.slice(1);
  return { config: { ...config, DATABASE_URL: embedded.url(name) }, embedded, description };
}

/** ./.data/postgres beneath the working directory, the absolute path elsewhere. */
function shown(dir: string): string {
  const rel = path.relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `./${rel.split(path.sep).join('/')}` : dir;
}
