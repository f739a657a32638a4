/**
 * Atomic writes: a writer rewrites a multi-megabyte report in a loop and is killed with SIGKILL
 * at random moments, many times. After every kill the file at the output path is absent (killed
 * before the first rename) or exactly one of the complete, schema-valid texts, never a truncated
 * or mixed one. Leftover temp files never carry the output's name, and a symlink planted at the
 * temp location is never followed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdtempSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPerformanceMonitor, withStage } from '../../src/index';
import { writeFileAtomic } from '../../src/report/write';
import { expectValidReport } from '../helpers/schema';
import { compiledFixture, runCompiled, useTempDir } from './support';
import { prng } from '../../examples/random';

jest.setTimeout(120_000);

// The modules' own export objects, so the temp name can be made predictable for the symlink test.
const crypto = require('node:crypto') as typeof import('node:crypto');
const fs = require('node:fs') as typeof import('node:fs');

const KILLS = 160;
const LANES = 2;
const SEED = 0x5eed_2026;


/** A real report with `calls` per-call records, as JSON text (several MB). */
function bigReportText(runName: string, calls: number): string {
  const m = createPerformanceMonitor({ enableMemoryTracking: false, maxStageRecords: calls });
  m.startMonitoring({ runName, metadata: { purpose: 'random-kill test' } });
  const stage = withStage('row', (i: number) => i * 2, { monitor: m, metadata: { table: 'events', shard: 7, note: 'x'.repeat(200) } });
  for (let i = 0; i < calls; i++) stage(i);
  const text = `${JSON.stringify(m.stopMonitoring(), null, 2)}\n`;
  expectValidReport(text);
  return text;
}

let build: string;
let texts: [string, string];
let textFiles: [string, string];

beforeAll(() => {
  build = mkdtempSync(join(tmpdir(), 'stagemeter-rel-texts-'));
  compiledFixture('atomicWriter.ts');
  texts = [bigReportText('first', 6000), bigReportText('second', 3500)];
  textFiles = [join(build, 'first.json'), join(build, 'second.json')];
  writeFileSync(textFiles[0], texts[0]);
  writeFileSync(textFiles[1], texts[1]);
});

afterAll(() => {
  rmSync(build, { recursive: true, force: true });
});

const tmp = useTempDir('atomic');

/** Starts the writer, kills it with SIGKILL `delayMs` after it printed ready, resolves on exit. */
async function killWriterAfter(out: string, delayMs: number): Promise<NodeJS.Signals | null> {
  let ready = false;
  const result = await runCompiled('atomicWriter.ts', [out, ...textFiles], {
    onStdout: (seen, kill) => {
      if (ready || !seen.includes('ready')) return;
      ready = true;
      setTimeout(() => kill('SIGKILL'), delayMs);
    },
  });
  if (!ready) throw new Error(`writer ended before ready: ${result.stderr}`);
  return result.signal;
}

const TEMP_NAME = /^\.run\.json\.[0-9a-f]{16}\.tmp$/;

describe('atomic writes under random kills', () => {
  test(`SIGKILL at ${KILLS} random moments never leaves a truncated or mixed report (seed ${SEED})`, async () => {
    // Size the random delays by what one write costs here (no assertion on time).
    const probeDir = join(tmp(), 'probe');
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) writeFileAtomic(join(probeDir, 'run.json'), texts[i % 2]!);
    const writeMs = Math.max(5, (Date.now() - t0) / 4);
    const maxDelayMs = Math.max(40, Math.ceil(writeMs * 6)); // a few writes' worth: kills land before, in and between writes

    const random = prng(SEED);
    const tempNames = new Set<string>();
    const tally = { kills: 0, absent: 0, first: 0, second: 0, midWrite: 0 };
    const perLane = KILLS / LANES;
    const ROUNDS = 4; // a fresh directory every perLane / ROUNDS kills, so "absent" is met too
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        let dir = '';
        for (let k = 0; k < perLane; k++) {
          if (k % (perLane / ROUNDS) === 0) {
            dir = join(tmp(), `lane${lane}-round${k}`);
            mkdirSync(dir, { recursive: true });
          }
          const out = join(dir, 'run.json');
          const before = new Set(readdirSync(dir));
          const delay = Math.floor(random() * maxDelayMs);
          const signal = await killWriterAfter(out, delay);
          expect(signal).toBe('SIGKILL');
          tally.kills++;
          const names = readdirSync(dir);
          for (const name of names) {
            if (name === 'run.json') continue;
            expect(name).toMatch(TEMP_NAME);
            if (!before.has(name)) {
              tally.midWrite++;
              expect(tempNames.has(name)).toBe(false);
              tempNames.add(name);
            }
          }
          if (!existsSync(out)) {
            tally.absent++;
            continue;
          }
          const text = readFileSync(out, 'utf8');
          if (text === texts[0]) tally.first++;
          else if (text === texts[1]) tally.second++;
          else throw new Error(`kill ${tally.kills} (lane ${lane}, delay ${delay} ms, seed ${SEED}): ${out} holds ${text.length} chars that are neither complete report`);
        }
      }),
    );
    // eslint-disable-next-line no-console
    console.log(`random kills: ${JSON.stringify(tally)}; report sizes ${texts.map((t) => (t.length / 1048576).toFixed(1)).join(' and ')} MB; one write took ~${writeMs.toFixed(1)} ms; delays 0-${maxDelayMs} ms; seed ${SEED}`);
    expect(tally.kills).toBe(KILLS);
    expect(tally.absent + tally.first + tally.second).toBe(KILLS);
    // the kills really landed inside writes, and both texts were seen whole
    expect(tally.midWrite).toBeGreaterThan(KILLS / 10);
    expect(tally.first).toBeGreaterThan(0);
    expect(tally.second).toBeGreaterThan(0);
  });
});

describe('the temp file', () => {
  test('has a fresh random name in the output directory, never the output name, and is gone after the write', () => {
    const out = join(tmp(), 'run.json');
    const opened: string[] = [];
    const realOpen = fs.openSync;
    jest.spyOn(fs, 'openSync').mockImplementation(((p: import('node:fs').PathLike, ...rest: unknown[]) => {
      opened.push(String(p));
      return (realOpen as (...a: unknown[]) => number)(p, ...rest);
    }) as typeof fs.openSync);
    try {
      for (let i = 0; i < 200; i++) writeFileAtomic(out, `{"i":${i}}\n`);
    } finally {
      jest.restoreAllMocks();
    }
    const temps = opened.filter((p) => p !== tmp());
    expect(temps).toHaveLength(200);
    expect(new Set(temps).size).toBe(200);
    for (const t of temps) expect(t).toMatch(new RegExp(`^${tmp().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\.run\\.json\\.[0-9a-f]{16}\\.tmp$`));
    expect(readdirSync(tmp())).toEqual(['run.json']);
  });

  test('a symlink planted at the temp location is never followed: the write fails, the victim is untouched', () => {
    const dir = tmp();
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    const out = join(dir, 'run.json');
    jest.spyOn(crypto, 'randomBytes').mockImplementation((() => Buffer.from('0123456789abcdef', 'hex')) as unknown as typeof crypto.randomBytes);
    const planted = join(dir, '.run.json.0123456789abcdef.tmp');
    symlinkSync(victim, planted);
    const dangling = join(dir, 'created-through-the-link');
    try {
      expect(() => writeFileAtomic(out, '{"attack":true}\n')).toThrow(/EEXIST/);
      // through the monitor: flagged, never thrown
      const m = createPerformanceMonitor({ enableMemoryTracking: false, outputPath: out });
      m.startMonitoring();
      const report = m.stopMonitoring();
      expect(report.output).toMatchObject({ written: false, error: expect.stringContaining('EEXIST') });
      expect(report.qualityFlags.some((f) => f.code === 'report_write_failed')).toBe(true);
      // a dangling link: following it would create the file it points to
      rmSync(planted);
      symlinkSync(dangling, planted);
      expect(() => writeFileAtomic(out, '{"attack":true}\n')).toThrow(/EEXIST/);
    } finally {
      jest.restoreAllMocks();
    }
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(existsSync(dangling)).toBe(false);
    expect(existsSync(out)).toBe(false);
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
  });
});
