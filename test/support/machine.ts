// How fast this machine is right now, measured in the same run as the figure it is compared with.
// The machine is shared: in a slow hour everything (node's own start included) takes several times as
// long, and a limit stated for its usual speed would fail for that alone. A limit scaled by the same
// run's baseline still fails for a start-up that really got slower, or one that hangs.
import { spawn } from 'node:child_process';

/** `node --import tsx -e 0` here in an ordinary hour (0.33–0.38 s, measured 2026-12-01). */
export const USUAL_TSX_START_MS = 350;

function once(): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - started));
  });
}

/** The median of three starts of an empty program with the loader `npm start` uses (ms). */
async function tsxStartMs(): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push(await once());
  return runs.sort((a, b) => a - b)[1]!;
}

export type ScaledLimit = { limitMs: number; describe(ms: number): string };

/**
 * A limit stated for this machine at its usual speed (`usualMs`), scaled by how much slower than
 * usual an empty program starts now; never below the stated limit.
 */
export async function scaledLimit(usualMs: number): Promise<ScaledLimit> {
  const baselineMs = await tsxStartMs();
  const slowness = Math.max(1, baselineMs / USUAL_TSX_START_MS);
  const limitMs = Math.round(usualMs * slowness);
  return {
    limitMs,
    describe: (ms) =>
      `${Math.round(ms)} ms; limit ${limitMs} ms (${usualMs} ms × ${slowness.toFixed(2)}: an empty tsx program started in ${Math.round(baselineMs)} ms, usually ${USUAL_TSX_START_MS})`,
  };
}
