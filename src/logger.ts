/**
 * Logging through pino: silent unless detailed logging is on or the application passes its own
 * logger. Detailed logs go to stderr (synchronously, so the last lines survive a crash), keeping
 * the host program's stdout untouched. A logger that fails never reaches the pipeline.
 */
import pino, { type Logger } from 'pino';
import type { ResolvedConfig } from './config';

export function createLogger(config: Pick<ResolvedConfig, 'logger' | 'enableDetailedLogging'>): Logger {
  if (config.logger !== undefined) {
    try {
      return config.logger.child({ component: 'stagemeter' });
    } catch {
      return pino({ level: 'silent' });
    }
  }
  if (!config.enableDetailedLogging) return pino({ level: 'silent' });
  return pino({ name: 'stagemeter', level: 'info' }, pino.destination({ dest: 2, sync: true }));
}

type Level = 'info' | 'warn' | 'error';

/** Logs one structured line; swallows whatever the logger or its stream throws. */
export function safeLog(logger: Logger, level: Level, obj: Record<string, unknown>, msg: string): void {
  try {
    if (logger.isLevelEnabled(level)) logger[level](obj, msg);
  } catch {
    // Losing a log line is better than breaking the pipeline that is being watched.
  }
}
