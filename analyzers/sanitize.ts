/**
 * Keeps what analyzers return fit for the JSON report: findings with exactly the schema's fields,
 * and evidence made JSON-safe and bounded by the same sanitiser as user metadata (cycles, BigInt,
 * functions, non-finite numbers, throwing getters, huge strings).
 */
import { sanitizeMetadata } from '../src/sanitize';
import type { Finding, Severity } from '../src/types';

/** Longest string kept in a finding's kind, stage or message, characters. */
const MAX_STRING = 2000;

function clip(s: string): string {
  return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…` : s;
}

/** A message that is not a string, as text; never throws. */
function textOf(value: unknown): string {
  try {
    return clip(String(value));
  } catch {
    return '[unprintable message]';
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
  const finding: Finding = { kind: clip(kind), severity: severity as Severity, message: typeof message === 'string' ? clip(message) : message === undefined ? '' : textOf(message) };
  if (typeof stage === 'string') finding.stage = clip(stage);
  if (typeof evidence === 'object' && evidence !== null && !Array.isArray(evidence)) {
    const safe = sanitizeMetadata(evidence);
    if (safe !== undefined) finding.evidence = safe;
  }
  return { finding };
}
