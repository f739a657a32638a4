/**
 * Keeps what analyzers return fit for the JSON report: findings with exactly the schema's fields,
 * evidence that serialises (no functions, cycles, BigInts or non-finite numbers), bounded in size.
 */
import type { Finding, Severity } from '../src/types';

/** Deepest nesting kept in evidence. */
const MAX_DEPTH = 6;
/** Longest array kept in evidence (the rest is dropped). */
const MAX_ITEMS = 100;
/** Most keys kept per evidence object. */
const MAX_KEYS = 100;
/** Longest string kept, characters. */
const MAX_STRING = 2000;

function clip(s: string): string {
  return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…` : s;
}

/**
 * A JSON-safe copy: non-finite numbers become 0, BigInts strings, functions and symbols are
 * dropped, cycles and over-deep values become `"[Truncated]"`, getters that throw become `"[Unreadable]"`.
 *
 * @example
 * jsonSafe({ a: NaN, b: 1n, c: () => 1 }); // { a: 0, b: '1' }
 */
export function jsonSafe(value: unknown, depth = 0, seen: Set<object> = new Set()): unknown {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : 0;
    case 'string':
      return clip(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (value === null) return null;
  const obj = value as object;
  if (depth >= MAX_DEPTH || seen.has(obj)) return '[Truncated]';
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : null;
  if (value instanceof Error) return { name: clip(String(value.name)), message: clip(String(value.message)) };
  seen.add(obj);
  try {
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (let i = 0; i < Math.min(value.length, MAX_ITEMS); i++) {
        const v = jsonSafe(value[i], depth + 1, seen);
        out.push(v === undefined ? null : v);
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    let keys = 0;
    for (const key of Object.keys(obj)) {
      if (keys >= MAX_KEYS) break;
      let raw: unknown;
      try {
        raw = (obj as Record<string, unknown>)[key];
      } catch {
        raw = '[Unreadable]';
      }
      const v = jsonSafe(raw, depth + 1, seen);
      if (v !== undefined) {
        out[key] = v;
        keys++;
      }
    }
    return out;
  } catch {
    return '[Unreadable]';
  } finally {
    seen.delete(obj);
  }
}

const SEVERITIES: ReadonlySet<string> = new Set<Severity>(['info', 'warning', 'error']);

/**
 * The finding with exactly the report's fields, or a description of what is wrong with it.
 *
 * @example
 * toFinding({ kind: 'x', severity: 'warning', message: 'm', extra: 1 }); // { finding: { kind: 'x', severity: 'warning', message: 'm' } }
 */
export function toFinding(raw: unknown): { finding: Finding } | { problem: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { problem: `a finding must be an object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}` };
  let kind: unknown;
  let severity: unknown;
  let message: unknown;
  let stage: unknown;
  let evidence: unknown;
  try {
    ({ kind, severity, message, stage, evidence } = raw as Record<string, unknown>);
  } catch (err) {
    return { problem: `a finding could not be read: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof kind !== 'string' || kind === '') return { problem: 'a finding has no kind (a non-empty string)' };
  if (typeof severity !== 'string' || !SEVERITIES.has(severity)) return { problem: `finding ${kind}: severity must be info, warning or error` };
  const finding: Finding = { kind: clip(kind), severity: severity as Severity, message: typeof message === 'string' ? clip(message) : String(jsonSafe(message) ?? '') };
  if (typeof stage === 'string') finding.stage = clip(stage);
  if (typeof evidence === 'object' && evidence !== null && !Array.isArray(evidence)) {
    const safe = jsonSafe(evidence);
    if (typeof safe === 'object' && safe !== null && !Array.isArray(safe)) finding.evidence = safe as Record<string, unknown>;
  }
  return { finding };
}
