// The service as separate processes (`node --import tsx src/main.ts`, as `npm start` runs it): an API
// process and any number of worker processes, which a test can SIGKILL and start again. Every process
// started here is tracked, and killed when the test process exits, whatever happened.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Output kept per process: enough for every log line of a scenario, bounded all the same. */
const MAX_OUTPUT_CHARS = 64 * 1024 * 1024;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type ServiceProcess = {
  role: 'api' | 'worker' | 'all';
  name: string;
  pid: number;
  /** http://127.0.0.1:PORT for an API process. */
  url: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<Exit>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Send a signal (SIGKILL: a crash) and wait until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** SIGTERM (graceful: in-flight jobs finish), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<Exit>;
};

export type SpawnOptions = {
  role: 'api' | 'worker' | 'all';
  name?: string;
  /**
   * How long to wait for the process to be ready (API: /readyz 200; worker: "worker running").
   * Only a process that never gets ready should fail here: how fast the service starts is
   * test/main.test.ts's to judge. A worker started again mid-drain shares the 2 cores with the
   * workers draining; in a slow hour that took over 30 s (worker-crash, 2026-11-30 and 12-01).
   */
  readyTimeoutMs?: number;
};

/** Start the service with exactly this environment (plus PATH) and wait until it is ready. */
export async function spawnService(env: Record<string, string>, opts: SpawnOptions): Promise<ServiceProcess> {
  // the API binds a port of the system's choosing and says which in its log: a port picked free here
  // and handed over could be taken by another process meanwhile (the machine is shared), and /readyz
  // would then be that process's answer
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env, PROCESS_ROLE: opts.role, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > MAX_OUTPUT_CHARS) out = out.slice(out.length - MAX_OUTPUT_CHARS);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const name = opts.name ?? `${opts.role}-${child.pid}`;
  const proc: ServiceProcess = {
    role: opts.role,
    name,
    pid: child.pid ?? -1,
    url: '',
    output: () => out,
    exited,
    alive: () => !gone,
    async kill(signal = 'SIGKILL') {
      if (!gone) child.kill(signal);
      return exited;
    },
    async stop(graceMs = 10_000) {
      if (gone) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };

  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${name} exited before it was ready: ${out.slice(-2000)}`);
    if (opts.role === 'worker') {
      if (out.includes('"msg":"worker running"')) return proc;
    } else {
      const listening = /"port":(\d+),"msg":"api listening"/.exec(out);
      if (listening) {
        proc.url = `http://127.0.0.1:${listening[1]}`;
        const res = await fetch(`${proc.url}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
        if (res?.status === 200) return proc;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.kill();
  throw new Error(`${name} was not ready within ${readyTimeoutMs} ms: ${out.slice(-2000)}`);
}

/** Kill every process this module started that is still running (afterAll, even after a failure). */
export async function stopAllServices(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
