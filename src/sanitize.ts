/**
 * Turns user metadata into plain JSON that can always be written: cycles, BigInt, functions,
 * symbols, huge strings, throwing getters and proxies are all made safe, and redacted keys are
 * replaced. Runs when a stage is configured or started by hand, never per hot call.
 */
import { types } from 'node:util';

export const REDACTED = '[Redacted]';
const MAX_DEPTH = 8;
const MAX_STRING = 1024;
const MAX_KEYS = 100;

/** A compiled list of redaction paths. */
export interface RedactMatcher {
  /** Keys redacted at any depth (single-segment paths such as `password`). */
  readonly keys: ReadonlySet<string>;
  /** Anchored multi-segment paths; `*` matches any one key or index. */
  readonly paths: readonly (readonly string[])[];
}

/**
 * Parses pino-style paths: `a.b`, `a[*].b`, `*.token`, `a["odd key"]`, `list[0]`. A single plain
 * key (`password`) is redacted wherever it appears, which is what a secret usually needs.
 * Throws an Error with a readable message on a malformed path.
 */
export function compileRedactPaths(paths: readonly string[]): RedactMatcher {
  const keys = new Set<string>();
  const anchored: string[][] = [];
  for (const path of paths) {
    const segments = parsePath(path);
    if (segments.length === 1 && segments[0] !== '*') keys.add(segments[0] as string);
    else anchored.push(segments);
  }
  return { keys, paths: anchored };
}

function parsePath(path: string): string[] {
  const segments: string[] = [];
  const re = /\.?([A-Za-z_$][\w$-]*|\*)|\[(\*|\d+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\]/y;
  let pos = 0;
  while (pos < path.length) {
    re.lastIndex = pos;
    const m = re.exec(path);
    if (m === null || (pos === 0 && path[0] === '.') || (pos > 0 && m[1] !== undefined && path[pos] !== '.')) {
      throw new Error(`cannot parse redact path ${JSON.stringify(path)} at character ${pos + 1}`);
    }
    const raw = m[1] ?? (m[2] as string);
    segments.push(raw.startsWith('"') || raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
    pos = re.lastIndex;
  }
  if (segments.length === 0) throw new Error('empty redact path');
  return segments;
}

function pathMatches(matcher: RedactMatcher, path: readonly string[]): boolean {
  const key = path[path.length - 1];
  if (key !== undefined && matcher.keys.has(key)) return true;
  outer: for (const p of matcher.paths) {
    if (p.length !== path.length) continue;
    for (let i = 0; i < p.length; i++) if (p[i] !== '*' && p[i] !== path[i]) continue outer;
    return true;
  }
  return false;
}

function safeString(s: string, notes?: Set<string>): string {
  if (s.length > MAX_STRING) notes?.add('long strings cut');
  return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}...[${s.length - MAX_STRING} more chars]` : s;
}

function describeSpecial(value: object): string | undefined {
  if (ArrayBuffer.isView(value)) return `[${value.constructor.name} byteLength=${value.byteLength}]`;
  if (value instanceof ArrayBuffer) return `[ArrayBuffer byteLength=${value.byteLength}]`;
  if (value instanceof Map) return `[Map size=${value.size}]`;
  if (value instanceof Set) return `[Set size=${value.size}]`;
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof Promise) return `[${value.constructor.name}]`;
  return undefined;
}

function sanitizeValue(value: unknown, path: string[], seen: Set<object>, matcher: RedactMatcher | undefined, notes?: Set<string>): unknown {
  switch (typeof value) {
    case 'string':
      return safeString(value, notes);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      notes?.add('BigInt as text');
      return value.toString();
    case 'symbol':
      return safeString(value.toString());
    case 'function':
      notes?.add('functions described');
      return `[Function${value.name ? ` ${safeString(value.name)}` : ''}]`;
    case 'undefined':
      return null;
    default:
      break;
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) {
    notes?.add('circular references');
    return '[Circular]';
  }
  if (path.length >= MAX_DEPTH) {
    notes?.add('nesting cut');
    return '[Too deep]';
  }
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  if (obj instanceof Error) return { name: safeString(String(obj.name)), message: safeString(String(obj.message)) };
  const special = describeSpecial(obj);
  if (special !== undefined) return special;
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const out: unknown[] = [];
      const n = Math.min(obj.length, MAX_KEYS);
      for (let i = 0; i < n; i++) out.push(sanitizeEntry(obj, String(i), path, seen, matcher, notes));
      if (obj.length > MAX_KEYS) out.push(`[${obj.length - MAX_KEYS} more items]`);
      return out;
    }
    const out: Record<string, unknown> = {};
    const keys = Object.keys(obj);
    const n = Math.min(keys.length, MAX_KEYS);
    // Defined, not assigned: a key `__proto__` (JSON.parse makes one) stays a plain data key
    // instead of setting the copy's prototype.
    for (let i = 0; i < n; i++) {
      const key = keys[i] as string;
      defineData(out, safeString(key), sanitizeEntry(obj, key, path, seen, matcher, notes));
    }
    if (keys.length > MAX_KEYS) defineData(out, '[more keys]', keys.length - MAX_KEYS);
    return out;
  } finally {
    seen.delete(obj);
  }
}

/** `out[key] = value` as an own data property, whatever the key (`__proto__` included). */
function defineData(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
}

function sanitizeEntry(obj: object, key: string, path: string[], seen: Set<object>, matcher: RedactMatcher | undefined, notes?: Set<string>): unknown {
  path.push(key);
  try {
    if (matcher !== undefined && pathMatches(matcher, path)) return REDACTED;
    let v: unknown;
    try {
      v = (obj as Record<string, unknown>)[key];
    } catch {
      notes?.add('unreadable properties');
      return '[Unreadable]';
    }
    try {
      return sanitizeValue(v, path, seen, matcher, notes);
    } catch {
      // a hostile value (a proxy whose traps throw) costs this entry, not the whole metadata
      notes?.add('unreadable values');
      return '[Unreadable]';
    }
  } finally {
    path.pop();
  }
}

/**
 * Returns a JSON-safe, redacted copy of `metadata`, or undefined when there is nothing to keep.
 * Never throws: whatever cannot be read becomes a descriptive string.
 *
 * @example
 * sanitizeMetadata({ user: 'a', password: 'x' }, compileRedactPaths(['password']))
 * // => { user: 'a', password: '[Redacted]' }
 */
export function sanitizeMetadata(metadata: unknown, matcher?: RedactMatcher, notes?: Set<string>): Record<string, unknown> | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  try {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) {
      return { value: sanitizeValue(metadata, ['value'], new Set(), matcher, notes) };
    }
    const out = sanitizeValue(metadata, [], new Set(), matcher, notes);
    return typeof out === 'object' && out !== null && !Array.isArray(out) ? (out as Record<string, unknown>) : { value: out };
  } catch {
    notes?.add('unserialisable metadata');
    return { value: '[Unserialisable metadata]' };
  }
}

/** Name and message of anything thrown, never throwing itself. */
export function describeError(error: unknown, withStack = false): { name: string; message: string; stack?: string } {
  try {
    // a proxy's traps are the program's code (instanceof runs getPrototypeOf)
    if ((typeof error === 'object' || typeof error === 'function') && error !== null && types.isProxy(error)) return { name: 'Proxy', message: '[a proxy: not read]' };
    if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
      const e = error as { name?: unknown; message?: unknown; stack?: unknown };
      const out: { name: string; message: string; stack?: string } = {
        name: safeString(typeof e.name === 'string' ? e.name : 'Error'),
        message: safeString(String(e.message)),
      };
      if (withStack && typeof e.stack === 'string') out.stack = e.stack.length > 16_384 ? e.stack.slice(0, 16_384) : e.stack;
      return out;
    }
    return { name: typeof error === 'object' && error !== null ? 'Object' : typeof error, message: safeString(String(error)) };
  } catch {
    return { name: 'Unknown', message: '[error could not be described]' };
  }
}
