// What processes use, read from /proc: resident memory, and CPU seconds by process, PostgreSQL and Redis.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { round } from './print.js';

export function rssMb(child: ChildProcess): number {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

export type CpuSeconds = { own: number; postgres: number; redis: number };

/**
 * CPU seconds used so far (user + system, from /proc; zeros where there is none): by the given
 * processes, by PostgreSQL's processes and by Redis. The worker's throughput swings with whatever
 * else the shared machine runs; the CPU each event costs is steadier, and says where it goes.
 */
export function cpuSeconds(pids: (number | undefined)[]): CpuSeconds {
  const out = { own: 0, postgres: 0, redis: 0 };
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const pid of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ)
    if (pids.includes(Number(pid))) out.own += seconds;
    else if (comm === 'postgres') out.postgres += seconds;
    else if (comm.startsWith('redis-server')) out.redis += seconds;
  }
  return out;
}

export type CpuPerEvent = ReturnType<typeof cpuPerEvent>;

/** Microseconds of CPU per event between two cpuSeconds() readings. */
export function cpuPerEvent(before: CpuSeconds, after: CpuSeconds, events: number) {
  const us = (k: keyof CpuSeconds) => round(((after[k] - before[k]) * 1e6) / events, 0);
  const r = { process: us('own'), postgres: us('postgres'), redis: us('redis') };
  return { ...r, total: r.process + r.postgres + r.redis };
}

/** A cpuPerEvent() figure in a printed line. */
export const cpuLine = (x: CpuPerEvent) => `${x.total} µs (process ${x.process}, PostgreSQL ${x.postgres}, Redis ${x.redis})`;
