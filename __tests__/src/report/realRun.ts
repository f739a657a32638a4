/**
 * A real monitored run for the viewer tests: nested stages, concurrent async calls under
 * Promise.all, a child that outlives its parent, a failing stage and a stage with a hostile name.
 */
import { createPerformanceMonitor, withStage, type PerformanceReport } from '../../../src/index';
import { expectValidReport } from '../../helpers/schema';

export const HOSTILE_NAME = '</script><script>alert(1)</script>\u2028<!--\u001b[31m';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function busy(ms: number): number {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  return x;
}

/** Runs the little pipeline under its own monitor and returns the schema-checked report. */
export async function realRunReport(): Promise<PerformanceReport> {
  const monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 10 });
  const opts = { monitor };
  const parse = withStage('parse', (rows: number[]) => (busy(4), rows.map((r) => r * 2)), opts);
  const transform = withStage('transform', async (rows: number[]) => {
    await sleep(2);
    return parse(rows);
  }, opts);
  const fetchPart = withStage('fetch_part', async (part: number[], ms: number) => {
    await sleep(ms);
    return part;
  }, opts);
  const load = withStage('load', async () => {
    const parts = await Promise.all([fetchPart([1, 2, 3], 25), fetchPart([4, 5], 30), fetchPart([6], 20)]);
    return parts.flat();
  }, { ...opts, rows: 'output' });
  const straggler = withStage('straggler', async () => sleep(30), opts);
  let pending: Promise<void> | undefined;
  const spawner = withStage('spawner', async () => {
    pending = straggler();
    await sleep(3);
  }, opts);
  const validate = withStage('validate', (rows: number[]) => {
    busy(2);
    if (rows.length > 0) throw new RangeError('row 3 out of range');
  }, opts);
  const hostile = withStage(HOSTILE_NAME, (rows: number[]) => busy(3) + rows.length, opts);

  monitor.startMonitoring({ runName: 'viewer-test', expectedRows: 6 });
  const rows = await load();
  await transform(rows);
  await spawner();
  await pending;
  try {
    validate(rows);
  } catch {
    // the failure is what the run records
  }
  hostile(rows);
  const allocate = withStage('allocate', () => Array.from({ length: 200_000 }, (_, i) => ({ i })).length, opts);
  allocate();
  await sleep(20);
  return expectValidReport(monitor.stopMonitoring());
}
