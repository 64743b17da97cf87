// A progress line for long CLI runs (replay, reconcile): done/total, rate, time left, redrawn in
// place on a terminal and silent when the output is a file or a pipe.

export type Progress = { done: number; total: number | null; elapsedMs: number };

/** `42s`, `16m30s`, `2h05m`. */
export function duration(seconds: number): string {
  const t = Math.ceil(seconds);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/** `150/312 events  48.2/s  ~4s left` (without a total: `150 events  48.2/s`). */
export function progressLine(p: Progress, unit: string): string {
  const rate = p.elapsedMs > 0 ? p.done / (p.elapsedMs / 1000) : 0;
  const parts = [p.total !== null ? `${p.done}/${p.total} ${unit}` : `${p.done} ${unit}`, `${rate.toFixed(1)}/s`];
  if (p.total !== null && rate > 0) parts.push(`~${duration(Math.max(0, p.total - p.done) / rate)} left`);
  return parts.join('  ');
}

export type TerminalProgress = {
  /** Wipe the line before other output; the next update draws it again. */
  clear(): void;
  update(p: Progress): void;
  /** Draw the last state once more and end the line. */
  end(): void;
};

/** A progress line redrawn in place on a terminal (at most every 100 ms); undefined when not a TTY. */
export function terminalProgress(stream: NodeJS.WriteStream, unit: string): TerminalProgress | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  let shown: Progress | undefined;
  return {
    clear() {
      if (last) stream.write('\r\x1b[K');
      last = 0;
    },
    update(p) {
      shown = p;
      if (Date.now() - last < 100) return;
      last = Date.now();
      stream.write(`\r\x1b[K${progressLine(p, unit)}`);
    },
    end() {
      if (shown) stream.write(`\r\x1b[K${progressLine(shown, unit)}\n`);
      shown = undefined;
    },
  };
}
