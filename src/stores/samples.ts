/**
 * Bounded storage for sampler ticks. Up to `capacity` ticks are kept as they are; past that,
 * neighbouring samples are merged two by two and later ticks are merged in buckets of the same
 * span, so memory stays bounded however long the run. A merged sample keeps what the analyzers
 * need to survive downsampling: the heap floor (min heapUsed, for the leak trend), the peak heap
 * (`heapUsedMaxMb`) and peak rss/external (for spikes and the budget), the summed event-loop
 * delay and GC work, and the span-weighted mean CPU.
 */
import type { MemorySample } from '../types';

function spanOf(s: MemorySample): number {
  return s.span ?? 1;
}

/** Sums two name -> number maps (null-prototype, so any stage name is plain data). */
function addCounts(a: Record<string, number> | undefined, b: Record<string, number> | undefined): Record<string, number> {
  const out = Object.create(null) as Record<string, number>;
  for (const m of [a, b]) if (m !== undefined) for (const k of Object.keys(m)) out[k] = (out[k] ?? 0) + m[k]!;
  return out;
}

/** Merges two consecutive samples (a before b) into one that stands for both. */
export function mergeSamples(a: MemorySample, b: MemorySample): MemorySample {
  const spanA = spanOf(a);
  const spanB = spanOf(b);
  const merged: MemorySample = {
    t: a.t,
    rssMb: Math.max(a.rssMb, b.rssMb),
    heapUsedMb: Math.min(a.heapUsedMb, b.heapUsedMb),
    heapUsedMaxMb: Math.max(a.heapUsedMaxMb ?? a.heapUsedMb, b.heapUsedMaxMb ?? b.heapUsedMb),
    heapTotalMb: Math.max(a.heapTotalMb, b.heapTotalMb),
    externalMb: Math.max(a.externalMb, b.externalMb),
    span: spanA + spanB,
  };
  if (a.cpuPercent !== undefined || b.cpuPercent !== undefined) {
    const ca = a.cpuPercent ?? b.cpuPercent ?? 0;
    const cb = b.cpuPercent ?? ca;
    merged.cpuPercent = (ca * spanA + cb * spanB) / (spanA + spanB);
  }
  if (a.loopDelayMs !== undefined || b.loopDelayMs !== undefined) {
    merged.loopDelayMs = (a.loopDelayMs ?? 0) + (b.loopDelayMs ?? 0);
  }
  if (a.gcCount !== undefined || b.gcCount !== undefined) {
    merged.gcCount = (a.gcCount ?? 0) + (b.gcCount ?? 0);
    merged.gcPauseMs = (a.gcPauseMs ?? 0) + (b.gcPauseMs ?? 0);
  }
  if (a.stageBusyMs !== undefined || b.stageBusyMs !== undefined) merged.stageBusyMs = addCounts(a.stageBusyMs, b.stageBusyMs);
  return merged;
}

export class SampleStore {
  readonly #capacity: number;
  #samples: MemorySample[] = [];
  /** Ticks each stored sample stands for (1 until the first compaction). */
  #span = 1;
  #pending: MemorySample | undefined;

  constructor(capacity: number) {
    this.#capacity = Math.max(2, Math.floor(capacity / 2) * 2);
  }

  add(sample: MemorySample): void {
    if (this.#span === 1) {
      this.#samples.push(sample);
    } else {
      this.#pending = this.#pending === undefined ? { ...sample } : mergeSamples(this.#pending, sample);
      if (spanOf(this.#pending) < this.#span) return;
      this.#samples.push(this.#pending);
      this.#pending = undefined;
    }
    if (this.#samples.length >= this.#capacity) this.#compact();
  }

  #compact(): void {
    const src = this.#samples;
    const out: MemorySample[] = [];
    for (let i = 0; i + 1 < src.length; i += 2) out.push(mergeSamples(src[i]!, src[i + 1]!));
    if (src.length % 2 === 1) out.push(src[src.length - 1]!);
    this.#samples = out;
    this.#span *= 2;
  }

  /** Ticks each stored sample stands for. */
  get span(): number {
    return this.#span;
  }

  /** All samples in time order, including a partly filled last bucket. */
  toArray(): MemorySample[] {
    return this.#pending === undefined ? [...this.#samples] : [...this.#samples, this.#pending];
  }

  get length(): number {
    return this.#samples.length + (this.#pending === undefined ? 0 : 1);
  }
}
