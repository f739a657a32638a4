/**
 * Logging through pino: silent unless detailed logging is on or the application passes its own
 * logger. Detailed logs go to stderr (synchronously, so the last lines survive a crash), keeping
 * the host program's stdout untouched. A logger that fails never reaches the pipeline.
 */
import pino, { type Logger } from 'pino';
import type { ResolvedConfig } from './validate';

/** The last failure of each logger stagemeter wrote to (a write that threw, or a stream 'error'). */
const failures = new WeakMap<Logger, string>();

function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unknown error';
  }
}

/** Why logging through `logger` failed, or undefined while it works. */
export function loggerFailure(logger: Logger): string | undefined {
  return failures.get(logger);
}

/**
 * An application stream that fails asynchronously emits 'error'; with nobody listening that is an
 * uncaught exception, set off by a line stagemeter wrote. Listen, so a broken log stream costs log
 * lines, never the process.
 */
function guardStream(logger: Logger, child: Logger): void {
  try {
    const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as NodeJS.EventEmitter | undefined;
    if (stream === undefined || typeof stream.on !== 'function' || typeof stream.listenerCount !== 'function') return;
    if (stream.listenerCount('error') > 0) return; // the application handles its stream's errors
    stream.on('error', (err: unknown) => void failures.set(child, describe(err)));
  } catch {
    // not a pino logger we can look into: nothing to guard
  }
}

function noop(): void {}

/**
 * The logger of a monitor that logs nothing: every level disabled. Not a pino instance: on Node
 * 20 creating one sets `Error.prepareStackTrace` (pino looks up its caller), which throws under
 * `node --frozen-intrinsics`, and a monitor that logs nothing needs none of pino.
 */
const SILENT = Object.freeze({
  level: 'silent',
  isLevelEnabled: () => false,
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => SILENT,
}) as unknown as Logger;

export function createLogger(config: Pick<ResolvedConfig, 'logger' | 'enableDetailedLogging'>): Logger {
  if (config.logger !== undefined) {
    try {
      const child = config.logger.child({ component: 'stagemeter' });
      guardStream(config.logger, child);
      return child;
    } catch {
      return SILENT;
    }
  }
  if (!config.enableDetailedLogging) return SILENT;
  try {
    return pino({ name: 'stagemeter', level: 'info' }, pino.destination({ dest: 2, sync: true }));
  } catch {
    // pino cannot start here (under --frozen-intrinsics): the run goes without log lines
    return SILENT;
  }
}

type Level = 'info' | 'warn' | 'error';

/** Logs one structured line; swallows whatever the logger or its stream throws. */
export function safeLog(logger: Logger, level: Level, obj: Record<string, unknown>, msg: string): void {
  try {
    if (logger.isLevelEnabled(level)) logger[level](obj, msg);
  } catch (err) {
    // Losing a log line is better than breaking the pipeline that is being watched; the run's
    // report says the log was lost.
    failures.set(logger, describe(err));
  }
}
