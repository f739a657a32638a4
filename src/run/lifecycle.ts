/**
 * Process hooks that let a run leave its report however the process ends, without changing how
 * it ends:
 * - `exit` (normal end, `process.exit(n)`, and after an uncaught exception or unhandled
 *   rejection, which Node turns into exit code 1): the report is written synchronously.
 * - `beforeExit` (the event loop is empty): a run that exports to OpenTelemetry ends here, so
 *   that its asynchronous export can finish before the process does.
 * - `uncaughtExceptionMonitor`: only observes the fatal error (an `uncaughtException` listener
 *   would stop the crash; an `unhandledRejection` listener would stop the default throw).
 * - `SIGINT`, `SIGTERM`, `SIGHUP`: the report is written, then, if no one else listens for the
 *   signal, our listener is removed and the signal raised again, so the process dies by the same
 *   signal with the same exit status as it would have without stagemeter.
 * Listeners exist only while at least one run with an output path is active. The list of runs to
 * flush lives on globalThis (like the singleton), so copies of the package loaded side by side
 * install one set of listeners and flush each other's runs.
 */

export interface ExitParticipant {
  /** The process is about to die of this error (origin: uncaughtException or unhandledRejection). */
  onFatal(error: unknown, origin: string): void;
  /** The process is exiting (synchronous work only). */
  onExit(code: number): void;
  /** The event loop is empty (`beforeExit`): asynchronous work started now still runs. */
  onBeforeExit?(): void;
  /**
   * A termination signal arrived. `terminating`: nobody else listens, so the process is about to
   * die of it; otherwise the application's own handler decides what happens next.
   */
  onSignal(signal: NodeJS.Signals, terminating: boolean): void;
}

/** Signals whose default action ends the process and that a run can see coming. */
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

interface Listeners {
  exit: (code: number) => void;
  beforeExit: () => void;
  fatal: (error: unknown, origin: string) => void;
  signals: Map<NodeJS.Signals, () => void>;
}

interface SharedLifecycle {
  readonly participants: Set<ExitParticipant>;
  /** The listeners in place, whichever copy of the package installed them. */
  installed: Listeners | undefined;
}

const shared: SharedLifecycle = ((globalThis as Record<symbol, SharedLifecycle | undefined>)[Symbol.for('stagemeter.lifecycle.v1')] ??= {
  participants: new Set(),
  installed: undefined,
});

function each(fn: (p: ExitParticipant) => void): void {
  for (const p of [...shared.participants]) {
    try {
      fn(p);
    } catch {
      // a participant must never turn a clean exit into a crash
    }
  }
}

/** Marks our signal listeners, so that "someone else listens" never counts our own. */
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

function install(): void {
  const listeners: Listeners = {
    exit: (code) => each((p) => p.onExit(code)),
    beforeExit: () => each((p) => p.onBeforeExit?.()),
    fatal: (error, origin) => {
      // An 'uncaughtException' listener (or a capture callback) handles the error: the process goes on.
      if (process.listenerCount('uncaughtException') > 0 || process.hasUncaughtExceptionCaptureCallback()) return;
      each((p) => p.onFatal(error, origin));
    },
    signals: new Map(SIGNALS.map((s) => [s, Object.assign(() => onSignal(s), { [OURS]: true })])),
  };
  shared.installed = listeners;
  process.on('exit', listeners.exit);
  // A listener that starts no work changes nothing: the process still ends when it returns.
  process.on('beforeExit', listeners.beforeExit);
  process.on('uncaughtExceptionMonitor', listeners.fatal);
  // First in line: a `process.once` handler installed before ours has not yet removed itself
  // when we look, so "someone else handles this signal" is decided correctly.
  for (const [signal, handler] of listeners.signals) process.prependListener(signal, handler);
}

function uninstall(): void {
  const listeners = shared.installed;
  if (listeners === undefined) return;
  shared.installed = undefined;
  process.removeListener('exit', listeners.exit);
  process.removeListener('beforeExit', listeners.beforeExit);
  process.removeListener('uncaughtExceptionMonitor', listeners.fatal);
  for (const [signal, handler] of listeners.signals) process.removeListener(signal, handler);
}

/** Starts watching the process end for this participant. */
export function watchProcessEnd(p: ExitParticipant): void {
  if (shared.installed === undefined) install();
  shared.participants.add(p);
}

/** Stops watching for this participant; the last one out removes every listener. */
export function unwatchProcessEnd(p: ExitParticipant): void {
  if (!shared.participants.delete(p)) return;
  if (shared.participants.size === 0) uninstall();
}
