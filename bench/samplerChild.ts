/**
 * Runs the sampler-cost phases (bench/sampler.ts) alone in a fresh process: an idle process is
 * what the figure is about, and the parent has leftovers from the other sections (worker threads,
 * exporters, a big heap for the GC to walk) that would blur a difference of hundredths of a percent.
 * Log lines go to stderr, the result as JSON to stdout.
 */
import { runSamplerCost } from './sampler';

const phaseMs = Number(process.argv[2] ?? 2500);
if (typeof (globalThis as { gc?: unknown }).gc !== 'function') process.stderr.write('  warning: the sampler child runs without --expose-gc; a phase may pay for the garbage of the one before\n');
runSamplerCost(phaseMs, (line) => process.stderr.write(`${line}\n`)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
