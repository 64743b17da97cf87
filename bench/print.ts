// The bench's printed lines and the rounding of its figures.
export const log = (line: string) => process.stdout.write(`${line}\n`);
export const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
export const signed = (n: number) => `${n >= 0 ? '+' : '−'}${Math.abs(n)}`;
