/**
 * Hints for two common slips that otherwise only show as a missing or empty report:
 * - a monitor started with createPerformanceMonitor() but never made the singleton (setMonitor),
 *   while the hooks, which look the singleton up, ran and recorded nowhere: its report says so;
 * - a run with no outputPath still active when the process exits: its report is lost, and one
 *   stderr line (or a log line, when the program gave its own logger) says so.
 */
import { isMainThread } from 'node:worker_threads';
import { safeLog } from '../logger';
import { slot } from '../callpath/global';
import type { RunState } from './state';

/** The unrouted-hook count when each run started. */
const unroutedAtStart = new WeakMap<RunState, number>();
/** Runs with no outputPath that are still active, watched for the process's exit. */
const unwritten = new Set<RunState>();
let exitListener: ((code: number) => void) | undefined;

function onExit(): void {
  const lost = [...unwritten];
  unwritten.clear();
  exitListener = undefined;
  if (lost.length === 0) return;
  const message = `${lost.length === 1 ? 'a run was' : `${lost.length} runs were`} still active when the process exited, and ${lost.length === 1 ? 'it has' : 'they have'} no outputPath: ${lost.length === 1 ? 'its report is' : 'their reports are'} lost (call stopMonitoring(), or set outputPath)`;
  const logged = lost.find((r) => r.config.logger !== undefined);
  try {
    if (logged !== undefined) safeLog(logged.log, 'warn', { event: 'report_lost' }, message);
    else process.stderr.write(`stagemeter: ${message}\n`);
  } catch {
    // stderr closed: nothing more to say
  }
}

/**
 * Starts watching a run for the hints (its hook counts, and its end when it has no outputPath).
 *
 * @example
 * watchHints(run); // in startMonitoring()
 */
export function watchHints(run: RunState): void {
  unroutedAtStart.set(run, slot.unrouted);
  if (run.config.outputPath !== undefined || !isMainThread) return;
  unwritten.add(run);
  if (exitListener === undefined) {
    exitListener = onExit;
    process.on('exit', exitListener);
  }
}

/**
 * The run stops: flags hook calls that recorded nowhere while it ran, when this monitor is not
 * the singleton, and stops watching for the exit.
 *
 * @example
 * endHints(run, slot.monitor === monitor); // in stopMonitoring(), before the report is built
 */
export function endHints(run: RunState, isSingleton: boolean): void {
  unwritten.delete(run);
  if (unwritten.size === 0 && exitListener !== undefined) {
    process.removeListener('exit', exitListener);
    exitListener = undefined;
  }
  const passed = slot.unrouted - (unroutedAtStart.get(run) ?? slot.unrouted);
  if (isSingleton || passed <= 0) return;
  const recorded = run.statsList.some((s) => s.calls > 0);
  run.flag(
    recorded ? 'info' : 'warning',
    'hooks_elsewhere',
    `${passed} hook calls (withStage, @MonitoredStage) ran during this run without a { monitor } option and recorded nowhere: such hooks record into the process-wide monitor (getMonitor()), and this monitor is not it; call setMonitor(monitor) after creating it, or pass { monitor } to the hooks`,
  );
}
