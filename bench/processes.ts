// The processes a run starts (the service, the load generator, the baselines), from files compiled
// once a run, and their stopping: every one is killed when the bench ends, however it ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_KEY, CPU_PROFILE, dbUrl, prefix, REDIS_URL, SECRET } from './options.js';
import { log } from './print.js';

const PROFILE = CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${new URL('./results/profiles', import.meta.url).pathname}`] : [];

/** `BENCH_SERVICE_WORKER_CONCURRENCY=100 npm run bench`: settings of the service processes to try. */
const serviceOverrides = Object.fromEntries(
  Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_SERVICE_'))
    .map(([k, v]) => [k.slice('BENCH_SERVICE_'.length), v ?? '']),
);

const children = new Set<ChildProcess>();

/** Every process still running, killed at once: for the bench's end, whether it finished or failed. */
export function killAll() {
  for (const c of children) c.kill('SIGKILL');
}

/**
 * The service and the load generator run as plain JavaScript, compiled once a run into .bench-build/
 * (esbuild, file by file, as tsx would): as the Docker image runs the service (node on compiled
 * files), and each of the many processes a run starts is ready sooner than through tsx's loader.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const BUILD = path.join(ROOT, '.bench-build');
export async function compile() {
  const { build } = await import('esbuild');
  rmSync(BUILD, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/**/*.ts', 'bench/load.ts', 'bench/bare-server.ts', 'bench/ingest-floor.ts', 'bench/stripe-bodies.ts'],
    outdir: BUILD,
    outbase: '.',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
}

/** One of the project's programs (`src/main.ts`, `bench/load.ts` …) and its arguments, from the run's compiled files. */
export function start(args: string[], env: Record<string, string>, name: string): ChildProcess {
  const profile = args[0] === 'src/main.ts' || args[0] === 'bench/ingest-floor.ts' ? PROFILE : [];
  const [file, ...rest] = args;
  const compiled = path.join(BUILD, file!.replace(/\.ts$/, '.js'));
  const child = spawn(process.execPath, [...profile, compiled, ...rest], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, ...(args[0] === 'src/main.ts' ? serviceOverrides : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.on('exit', (code) => {
    children.delete(child);
    if (code && code !== 0 && code !== 143) log(`  (${name} exited ${code}: ${err.trim().split('\n').at(-1)})`);
  });
  return child;
}

export async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  // a timer, cleared once it exits: a pending sleep kept the bench alive 15 s after its last measure
  const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(kill);
}

export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', () => reject(new Error('process exited before printing')));
  });
}

export async function service(role: 'api' | 'worker' | 'all', port: number, extra: Record<string, string> = {}) {
  const child = start(['src/main.ts'], {
    PORT: String(port),
    DATABASE_URL: dbUrl,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    PROCESS_ROLE: role,
    STRIPE_WEBHOOK_SECRET: SECRET,
    API_KEY,
    ...extra,
  }, `service ${role}`);
  if (role !== 'worker') {
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (ok) return child;
      await sleep(100);
    }
    throw new Error(`service (${role}) did not become ready`);
  }
  // a worker has no HTTP port: the caller waits until the queue counts it (getWorkersCount)
  return child;
}

/** What bench/load.ts prints: its figures over the requests it sent. */
export type LoadFigures = { requests: number; measured: number; rps: number; p50: number; p99: number; non2xx: number; errors: number; acks?: [string, number][]; latencies?: number[] };

/** A run of the load generator (bench/load.ts, its options there), in a process of its own. */
export async function load(opts: Record<string, unknown>) {
  const child = start(['bench/load.ts', JSON.stringify(opts)], {}, 'load');
  const line = await firstLine(child);
  await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
  return JSON.parse(line) as LoadFigures;
}
