/**
 * Process hooks that let a run leave its report however the process ends, without changing how
 * it ends:
 * - `exit` (normal end, `process.exit(n)`, and after an uncaught exception or unhandled
 *   rejection, which Node turns into exit code 1): the report is written synchronously.
 * - `uncaughtExceptionMonitor`: only observes the fatal error (an `uncaughtException` listener
 *   would stop the crash; an `unhandledRejection` listener would stop the default throw).
 * - `SIGINT` / `SIGTERM`: the report is written, then, if no one else listens for the signal,
 *   our listener is removed and the signal raised again, so the process dies by the same signal
 *   with the same exit status as it would have without stagemeter.
 * Listeners exist only while at least one run with an output path is active.
 */

export interface ExitParticipant {
  /** The process is about to die of this error (origin: uncaughtException or unhandledRejection). */
  onFatal(error: unknown, origin: string): void;
  /** The process is exiting (synchronous work only). */
  onExit(code: number): void;
  /**
   * A termination signal arrived. `terminating`: nobody else listens, so the process is about to
   * die of it; otherwise the application's own handler decides what happens next.
   */
  onSignal(signal: NodeJS.Signals, terminating: boolean): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
const participants = new Set<ExitParticipant>();

function each(fn: (p: ExitParticipant) => void): void {
  for (const p of [...participants]) {
    try {
      fn(p);
    } catch {
      // a participant must never turn a clean exit into a crash
    }
  }
}

const onExit = (code: number): void => each((p) => p.onExit(code));
const onFatal = (error: unknown, origin: string): void => {
  // An 'uncaughtException' listener (or a capture callback) handles the error: the process goes on.
  if (process.listenerCount('uncaughtException') > 0 || process.hasUncaughtExceptionCaptureCallback()) return;
  each((p) => p.onFatal(error, origin));
};

/** Marks our signal listeners, so that copies of the package loaded twice recognise each other. */
const OURS = Symbol.for('stagemeter.signalListener');

function isOurs(listener: unknown): boolean {
  return (listener as Record<symbol, unknown>)[OURS] === true;
}

function onSignal(signal: NodeJS.Signals): void {
  const listeners = process.listeners(signal);
  // Someone else listens: they decide what happens next, as they would without us.
  const terminating = !listeners.some((l) => !isOurs(l));
  each((p) => p.onSignal(signal, terminating));
  if (!terminating) return;
  for (const l of listeners) process.removeListener(signal, l);
  uninstall();
  process.kill(process.pid, signal);
}

const signalHandlers = new Map<NodeJS.Signals, () => void>(
  SIGNALS.map((s) => [s, Object.assign(() => onSignal(s), { [OURS]: true })]),
);

function install(): void {
  process.on('exit', onExit);
  process.on('uncaughtExceptionMonitor', onFatal);
  // First in line: a `process.once` handler installed before ours has not yet removed itself
  // when we look, so "someone else handles this signal" is decided correctly.
  for (const [signal, handler] of signalHandlers) process.prependListener(signal, handler);
}

function uninstall(): void {
  process.removeListener('exit', onExit);
  process.removeListener('uncaughtExceptionMonitor', onFatal);
  for (const [signal, handler] of signalHandlers) process.removeListener(signal, handler);
}

/** Starts watching the process end for this participant. */
export function watchProcessEnd(p: ExitParticipant): void {
  if (participants.size === 0) install();
  participants.add(p);
}

/** Stops watching for this participant; the last one out removes every listener. */
export function unwatchProcessEnd(p: ExitParticipant): void {
  if (!participants.delete(p)) return;
  if (participants.size === 0) uninstall();
}
