/**
 * A labeling pipeline of the kind stagemeter is built for: month by month, rows are loaded,
 * normalised, scored with weights, labeled, audited and written. The engine's methods carry
 * @MonitoredStage; the monthly driver wraps functions with withStage(). Nothing here knows
 * whether a run is being monitored: without one, every hook passes straight through.
 */
import { MonitoredStage, recordRows, withStage } from '../src/index';
import { prng } from './random';

export interface Row {
  id: number;
  month: string;
  category: number;
  amount: number;
  features: Float64Array;
}

export type Label = 'approve' | 'review' | 'reject';

export interface MonthResult {
  month: string;
  rows: number;
  labels: Record<Label, number>;
  bytesWritten: number;
}

export interface PipelineOptions {
  /** Months to process (default 12). */
  months?: number;
  /** Rows per month (default 100_000). */
  rowsPerMonth?: number;
  /** Seed of the data generator (default 42). */
  seed?: number;
  /** Rows compared by the audit for each row: the deliberately slow part (default 500). */
  auditWindow?: number;
  /**
   * Makes one stage slower by doing its work `factor` times in each call (a whole number, 1-100):
   * a regression of known size, for checking that `stagemeter diff` finds it. The extra passes run
   * the stage's own work without its nested stages, so only that stage's own time grows (and the
   * total time of the stages that enclose it).
   */
  slowStage?: SlowStage;
}

/** A stage to slow down, by name, and by how many times. */
export interface SlowStage {
  /** Stage name as it appears in the report, e.g. `WeightedLabelingEngine.audit`. */
  name: string;
  /** How many times the stage's work runs per call (2: the stage takes about twice as long). */
  factor: number;
}

/** The stage names of the pipeline, in the order a month goes through them. */
export const PIPELINE_STAGES: readonly string[] = [
  'process_month',
  'load_month',
  'WeightedLabelingEngine.normalize',
  'WeightedLabelingEngine.score',
  'score_chunk',
  'weighted_labeling',
  'WeightedLabelingEngine.audit',
  'write_month',
];

const FEATURES = 8;
const CATEGORIES = 6;
const CHUNK = 10_000;


function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Generates one month of rows in chunks, yielding to the event loop between chunks like a reader would. */
async function generateMonth(month: string, count: number, seed: number): Promise<Row[]> {
  const rand = prng(seed);
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const features = new Float64Array(FEATURES);
    for (let f = 0; f < FEATURES; f++) features[f] = rand() * 2 - 1;
    rows.push({ id: i, month, category: Math.floor(rand() * CATEGORIES), amount: Math.round(rand() * 100_000) / 100, features });
    if ((i + 1) % CHUNK === 0) await yieldToLoop();
  }
  return rows;
}

function loadMonthStage(passes: number): (month: string, count: number, seed: number) => Promise<Row[]> {
  return withStage(
    'load_month',
    async (month: string, count: number, seed: number): Promise<Row[]> => {
      let rows = await generateMonth(month, count, seed);
      for (let pass = 1; pass < passes; pass++) rows = await generateMonth(month, count, seed);
      return rows;
    },
    { rows: 'output', metadata: { source: 'generated' } },
  );
}

/** Loads one month of generated rows (stage `load_month`, rows: the rows it returns). */
export const loadMonth = loadMonthStage(1);

export class WeightedLabelingEngine {
  readonly #weights: Float64Array;
  readonly #auditWindow: number;
  readonly #slow: SlowStage | undefined;

  /** `slowStage`: one of this engine's stages does its work `factor` times per call. */
  constructor(seed: number, auditWindow: number, slowStage?: SlowStage) {
    const rand = prng(seed ^ 0x5eed);
    this.#weights = Float64Array.from({ length: FEATURES }, () => rand() * 2 - 1);
    this.#auditWindow = auditWindow;
    this.#slow = slowStage;
  }

  /** How many times the stage named `stage` does its work in each call. */
  #passes(stage: string): number {
    return this.#slow?.name === stage ? this.#slow.factor : 1;
  }

  /** Scales amounts to z-scores within each category. */
  @MonitoredStage()
  normalize(rows: Row[]): Float64Array {
    let z = normalizeAmounts(rows);
    for (let pass = this.#passes('WeightedLabelingEngine.normalize'); pass > 1; pass--) z = normalizeAmounts(rows);
    return z;
  }

  /** Weighted score of each row's features plus its normalised amount, chunk by chunk. */
  @MonitoredStage()
  score(rows: Row[], z: Float64Array): Float64Array {
    const scores = new Float64Array(rows.length);
    for (let start = 0; start < rows.length; start += CHUNK) this.scoreChunk(rows, z, scores, start, Math.min(rows.length, start + CHUNK));
    // the extra passes skip the score_chunk stage, so its call count stays one per chunk
    for (let pass = this.#passes('WeightedLabelingEngine.score'); pass > 1; pass--) this.#scoreRange(rows, z, scores, 0, rows.length);
    return scores;
  }

  @MonitoredStage({ name: 'score_chunk', rows: (_result, args) => (args[4] as number) - (args[3] as number) })
  scoreChunk(rows: Row[], z: Float64Array, out: Float64Array, start: number, end: number): void {
    for (let pass = this.#passes('score_chunk'); pass >= 1; pass--) this.#scoreRange(rows, z, out, start, end);
  }

  #scoreRange(rows: Row[], z: Float64Array, out: Float64Array, start: number, end: number): void {
    const w = this.#weights;
    for (let i = start; i < end; i++) {
      const f = rows[i]!.features;
      let s = 0.35 * z[i]!;
      for (let k = 0; k < FEATURES; k++) s += w[k]! * f[k]!;
      out[i] = 1 / (1 + Math.exp(-s));
    }
  }

  /** Turns scores into labels with fixed cut-offs. */
  @MonitoredStage('weighted_labeling')
  label(rows: Row[], scores: Float64Array): Label[] {
    let labels = labelScores(rows, scores);
    for (let pass = this.#passes('weighted_labeling'); pass > 1; pass--) labels = labelScores(rows, scores);
    return labels;
  }

  /**
   * Checks every label against the recent rows of the same category. Deliberately naive: it
   * rescans a window of previous rows for each row, so it is the pipeline's bottleneck.
   */
  @MonitoredStage()
  audit(rows: Row[], labels: Label[]): number {
    let disagreements = auditLabels(rows, labels, this.#auditWindow);
    for (let pass = this.#passes('WeightedLabelingEngine.audit'); pass > 1; pass--) disagreements = auditLabels(rows, labels, this.#auditWindow);
    return disagreements;
  }
}

function normalizeAmounts(rows: Row[]): Float64Array {
  const sum = new Float64Array(CATEGORIES);
  const sumSq = new Float64Array(CATEGORIES);
  const n = new Float64Array(CATEGORIES);
  for (const r of rows) {
    sum[r.category]! += r.amount;
    sumSq[r.category]! += r.amount * r.amount;
    n[r.category]!++;
  }
  const z = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    const count = n[r.category]!;
    const mean = sum[r.category]! / count;
    const sd = Math.sqrt(Math.max(sumSq[r.category]! / count - mean * mean, 1e-9));
    z[i] = (r.amount - mean) / sd;
  });
  return z;
}

function labelScores(rows: Row[], scores: Float64Array): Label[] {
  return rows.map((_, i) => (scores[i]! > 0.62 ? 'approve' : scores[i]! < 0.38 ? 'reject' : 'review'));
}

function auditLabels(rows: Row[], labels: Label[], window: number): number {
  let disagreements = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    let same = 0;
    let agree = 0;
    for (let j = Math.max(0, i - window); j < i; j++) {
      const other = rows[j]!;
      if (other.category !== row.category) continue;
      same++;
      if (labels[j] === labels[i] || Math.abs(other.amount - row.amount) > 250) agree++;
    }
    if (same > 0 && agree / same < 0.2) disagreements++;
  }
  return disagreements;
}

/** Serialises a month's labels as they would be written out; returns the bytes. */
function serializeMonth(rows: Row[], labels: Label[]): number {
  let bytes = 0;
  for (let start = 0; start < rows.length; start += CHUNK) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(rows.length, start + CHUNK); i++) lines.push(`${rows[i]!.month},${rows[i]!.id},${labels[i]}`);
    bytes += Buffer.byteLength(lines.join('\n'));
  }
  return bytes;
}

function writeMonthStage(passes: number): (rows: Row[], labels: Label[]) => Promise<number> {
  return withStage('write_month', async (rows: Row[], labels: Label[]): Promise<number> => {
    let bytes = 0;
    for (let pass = 0; pass < passes; pass++) {
      bytes = serializeMonth(rows, labels);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    recordRows(rows.length);
    return bytes;
  });
}

/** Serialises a month's labels as it would be written out, and waits for the "disk". */
export const writeMonth = writeMonthStage(1);

/**
 * Runs the pipeline over generated data and returns what each month produced.
 *
 * @example
 * const results = await runLabelingPipeline({ months: 12, rowsPerMonth: 100_000 });
 * // a known regression: the audit does its work twice per call
 * await runLabelingPipeline({ months: 12, slowStage: { name: 'WeightedLabelingEngine.audit', factor: 2 } });
 */
export async function runLabelingPipeline(options: PipelineOptions = {}): Promise<MonthResult[]> {
  const months = options.months ?? 12;
  const rowsPerMonth = options.rowsPerMonth ?? 100_000;
  const seed = options.seed ?? 42;
  const slow = options.slowStage;
  if (slow !== undefined) {
    if (!PIPELINE_STAGES.includes(slow.name)) throw new Error(`slowStage: no stage named ${JSON.stringify(slow.name)}; the stages are ${PIPELINE_STAGES.join(', ')}`);
    if (!Number.isInteger(slow.factor) || slow.factor < 1 || slow.factor > 100) throw new Error(`slowStage: factor must be a whole number from 1 to 100, got ${String(slow.factor)}`);
  }
  const passesOf = (stage: string): number => (slow?.name === stage ? slow.factor : 1);
  const engine = new WeightedLabelingEngine(seed, options.auditWindow ?? 500, slow);
  const load = passesOf('load_month') === 1 ? loadMonth : loadMonthStage(passesOf('load_month'));
  const write = passesOf('write_month') === 1 ? writeMonth : writeMonthStage(passesOf('write_month'));
  const processMonth = withStage(
    'process_month',
    async (month: string, index: number): Promise<MonthResult> => {
      const rows = await load(month, rowsPerMonth, seed + index);
      const z = engine.normalize(rows);
      const scores = engine.score(rows, z);
      const labels = engine.label(rows, scores);
      engine.audit(rows, labels);
      const bytesWritten = await write(rows, labels);
      let counts: Record<Label, number> = { approve: 0, review: 0, reject: 0 };
      for (let pass = passesOf('process_month'); pass >= 1; pass--) counts = countLabels(labels);
      recordRows(rows.length);
      return { month, rows: rows.length, labels: counts, bytesWritten };
    },
    { metadata: { rowsPerMonth } },
  );
  const results: MonthResult[] = [];
  for (let m = 0; m < months; m++) {
    const month = `2026-${String((m % 12) + 1).padStart(2, '0')}${m >= 12 ? `+${Math.floor(m / 12)}y` : ''}`;
    results.push(await processMonth(month, m));
  }
  return results;
}

function countLabels(labels: Label[]): Record<Label, number> {
  const counts: Record<Label, number> = { approve: 0, review: 0, reject: 0 };
  for (const l of labels) counts[l]++;
  return counts;
}
