/**
 * The process-wide monitor: created from the environment on first use, shared by every copy of
 * the package through the global slot, and started by the first stage when STAGEMETER_OUTPUT is
 * set (zero-code-change runs).
 */
import { basename } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { RUN_KEY, slot } from './callpath/global';
import { ConfigError } from './errors';
import { configOf, isMonitor, PerformanceMonitor } from './monitor';
import { announcedRun, startForwarding } from './run/forward';
import { ENV, optionsFromEnv } from './validate';

/**
 * Returns the process-wide monitor, creating it from the environment (STAGEMETER_OUTPUT,
 * STAGEMETER_SAMPLE_MS, STAGEMETER_LOG, ...) on first use. Throws {@link ConfigError} when the
 * environment holds invalid values.
 *
 * @example
 * getMonitor().startMonitoring({ expectedRows: 2_000_000 });
 */
export function getMonitor(): PerformanceMonitor {
  // In a worker thread created during a main-thread run, the singleton records into that run.
  if (!isMainThread && slot.autoStart === undefined) autoStartMonitor();
  if (slot.monitor === undefined) slot.monitor = new PerformanceMonitor(optionsFromEnv());
  return slot.monitor as PerformanceMonitor;
}

/**
 * Replaces the process-wide monitor (tests, custom setups). Hooks without an explicit monitor
 * record into it from their next call on. A monitor of another installed copy of the package
 * (of the same internal protocol) is accepted too.
 *
 * @example
 * setMonitor(createPerformanceMonitor({ outputPath: 'reports/run.json' }));
 */
export function setMonitor(monitor: PerformanceMonitor): void {
  if (!isMonitor(monitor)) {
    throw new ConfigError([{ field: 'monitor', message: 'setMonitor() needs a monitor from createPerformanceMonitor()' }]);
  }
  slot.monitor = monitor;
}

/**
 * @internal For hooks that found no active run: reads the environment once and, when
 * STAGEMETER_OUTPUT is set, starts the singleton. A bad environment is reported once on stderr
 * and leaves monitoring off; it never throws into the pipeline. In a worker thread, the singleton
 * records into the main thread's run when the worker was created while it was active, and a
 * worker never writes a report of its own from the environment.
 */
export function autoStartMonitor(): PerformanceMonitor | undefined {
  if (slot.autoStart === false) return undefined;
  if (!isMainThread) return startInWorker();
  const env = process.env;
  const mentioned = Object.keys(env).some((k) => k.startsWith('STAGEMETER_'));
  if (!mentioned) {
    slot.autoStart = false;
    return undefined;
  }
  try {
    const options = optionsFromEnv(env);
    if (env[ENV.output] === undefined || env[ENV.output] === '') {
      slot.autoStart = false;
      return undefined;
    }
    const monitor = (slot.monitor ??= new PerformanceMonitor(options)) as PerformanceMonitor;
    if (!monitor.isMonitoring) monitor.startMonitoring({ runName: basename(process.argv[1] ?? 'node') });
    slot.autoStart = false;
    return monitor;
  } catch (err) {
    slot.autoStart = false;
    if (!slot.envErrorReported) {
      slot.envErrorReported = true;
      try {
        process.stderr.write(`stagemeter: monitoring is off: ${err instanceof Error ? err.message : String(err)}\n`);
      } catch {
        // stderr closed: nothing more we can do
      }
    }
    return undefined;
  }
}

/** The singleton of a worker thread, recording into the main thread's announced run. */
function startInWorker(): PerformanceMonitor | undefined {
  slot.autoStart = false;
  const announced = announcedRun();
  if (announced === undefined) return undefined;
  try {
    const monitor = (slot.monitor ??= new PerformanceMonitor()) as PerformanceMonitor;
    if (monitor.isMonitoring) return monitor;
    return startForwarding(monitor[RUN_KEY], announced, configOf(monitor)) !== undefined ? monitor : undefined;
  } catch {
    return undefined;
  }
}
