/** The soak's command line (see the usage in scripts/torture.ts). */
export interface Options {
  durationS: number;
  publishers: number;
  rate: number;
  restartEveryS: number;
  burstEveryS: number;
}

/**
 * @example
 * parseArgs(['--duration=40']); // { durationS: 40, publishers: 8, rate: 1000, restartEveryS: 10, burstEveryS: 8 }
 */
export function parseArgs(argv: readonly string[]): Options {
  const value = (name: string, fallback: number, max: number): number => {
    const arg = argv.find((a) => a.startsWith(`--${name}=`));
    if (arg === undefined) return fallback;
    const n = Number(arg.slice(name.length + 3));
    if (!Number.isFinite(n) || n <= 0) throw new TypeError(`--${name} must be a positive number, got ${arg}`);
    return Math.min(n, max);
  };
  return {
    durationS: value('duration', 120, 240),
    publishers: Math.round(value('publishers', 8, 64)),
    rate: value('rate', 1_000, 20_000),
    restartEveryS: value('restart-every', 10, 600),
    burstEveryS: value('burst-every', 8, 600),
  };
}
