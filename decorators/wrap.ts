/**
 * The wrapper every hook installs. When no run is active it reads the stage's hand-over count (0),
 * looks the monitor up and calls the original: no clock read, no allocation.
 *
 * The arguments are passed on spread (`...args`), never as the array: a rest array that only
 * reaches `Reflect.apply` and spreads is not allocated once V8 optimises the wrapper, while one
 * handed to another function is, on every call, active run or not. Measured with a wrapper shared
 * by several stages, as in a pipeline: no active run, 14.6-15.3 ns over the raw call as an array,
 * 3.2-4.3 ns spread; an active hot stage the same either way (61-86 ns).
 */
import 'reflect-metadata';
import { ROWS_INPUT, rowsHeldBy, type PerformanceMonitor, type StageDefinition } from '../src/collector';
import { slot } from '../src/global';
import { autoStartMonitor } from '../src/singleton';

/** Builds the wrapper for one stage definition; keeps the original's name, length and metadata. */
export function makeWrapper(def: StageDefinition, explicit: PerformanceMonitor | undefined): (...args: unknown[]) => unknown {
  const fn = def.fn;
  // Named so that it reads as stagemeter's in a stack trace or a profile.
  const wrapped = function stagemeterHook(this: unknown, ...args: unknown[]): unknown {
    if (new.target !== undefined) return Reflect.construct(fn, args, new.target === wrapped ? fn : new.target);
    // An untimed call the collector handed over (StageDefinition.fastLeft) is made by
    // handedOverCall, which V8 inlines here as it inlines this wrapper into its caller: keep both
    // under V8's inlining limit (460 bytes of bytecode; __tests__/decorators/inlinable.test.ts
    // checks). Right after a call of a few µs every function and object a call reaches costs a
    // cache miss, and such a call reaches this definition, the slot and one frame: 40-56 ns over
    // the raw call after 10 µs of work, against 80-108 ns through _invoke (trimmed means of 8
    // processes each). With the same code written out of line, taking the arguments as an array,
    // it cost 18-35 ns more.
    if (def.fastLeft > 0 && def.fastFrame!.ended && def.fastMonitor === (explicit ?? slot.monitor) && slot.promiseHookUsers === 0 && slot.alsUsers === 0) {
      return handedOverCall(def, this, ...args);
    }
    const monitor = (explicit ?? slot.monitor) as PerformanceMonitor | undefined;
    if (monitor !== undefined && monitor.isMonitoring) return monitor._invoke(def, this, ...args);
    if (explicit !== undefined || slot.autoStart === false) return Reflect.apply(fn, this, args);
    const started = autoStartMonitor();
    return started !== undefined ? started._invoke(def, this, ...args) : Reflect.apply(fn, this, args);
  };
  copyIdentity(fn, wrapped);
  return wrapped;
}

/**
 * An untimed call the collector handed over (StageDefinition.fastLeft): counted here, with its rows
 * and its context, in the frame the stage reuses.
 */
function handedOverCall(def: StageDefinition, thisArg: unknown, ...args: unknown[]): unknown {
  const frame = def.fastFrame!;
  const monitor = def.fastMonitor!;
  def.fastLeft--;
  const prev = slot.current;
  frame.reuse(prev);
  slot.current = frame;
  let result: unknown;
  try {
    result = Reflect.apply(def.fn, thisArg, args);
  } catch (error) {
    slot.current = prev;
    monitor._fastCallThrew(def, frame, error, ...args);
    throw error;
  }
  slot.current = prev;
  // The run stopped during the call and closed it.
  if (frame.ended) return result;
  if (typeof result === 'object' && result instanceof Promise) return monitor._fastCallReturnedPromise(def, frame, result, ...args);
  let rows = 0;
  if (def.rowsKind === ROWS_INPUT && !frame.rowsRecorded) {
    // The first argument that holds rows, as rowsOfArgs counts them: read here rather than by
    // calling it, which hands it the arguments' array and so makes V8 allocate one (17 ns more
    // a call after 10 µs of work, measured).
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (typeof arg !== 'object' || arg === null) continue;
      const n = rowsHeldBy(arg);
      if (n !== undefined) {
        rows = n;
        break;
      }
    }
  } else {
    rows = def.rowsOfResult(frame, result);
  }
  def.countFastCall(frame, rows);
  return result;
}

/** name, length, prototype, own properties and reflect-metadata of the original. */
function copyIdentity(from: (...args: unknown[]) => unknown, to: (...args: unknown[]) => unknown): void {
  for (const key of Reflect.ownKeys(from)) {
    if (key === 'arguments' || key === 'caller') continue;
    const desc = Object.getOwnPropertyDescriptor(from, key);
    if (desc === undefined) continue;
    if (key === 'prototype') {
      if (desc.value !== undefined) Object.defineProperty(to, 'prototype', { value: desc.value, writable: desc.writable ?? true });
      continue;
    }
    try {
      Object.defineProperty(to, key, desc);
    } catch {
      // a non-configurable own property of the target (none for plain functions)
    }
  }
  for (const key of Reflect.getOwnMetadataKeys(from)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, from), to);
  }
}
