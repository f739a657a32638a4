/**
 * The labeled memory-trend corpus: synthetic heap series modelled on what a Node process shows
 * (a post-GC floor, a GC sawtooth above it whose peaks V8 lets rise over time, sampling noise),
 * each labeled leak or not. Deterministic: every series comes from a seeded PRNG.
 */
import type { TrendSample } from '../../analyzers/memoryTrend';
import { prng } from '../../examples/random';

export interface CorpusCase {
  name: string;
  leak: boolean;
  samples: TrendSample[];
}

export { prng };

function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

const MIN = 60_000;

interface Model {
  /** Sample times, ms. */
  times: number[];
  /** Post-GC floor at t, MiB. */
  floor: (t: number) => number;
  /** Garbage allocated per second between collections, MiB/s (0: no sawtooth). */
  garbageMbPerSec?: number;
  /** Garbage at which a GC runs, MiB (may grow with t, as V8 raises its limits). */
  gcAtMb?: (t: number) => number;
  /** Sampling noise, MiB (standard deviation). */
  noiseMb?: number;
}

function simulate(model: Model, seed: number): TrendSample[] {
  const rand = prng(seed);
  const normal = gaussian(rand);
  const rate = model.garbageMbPerSec ?? 0;
  const gcAt = model.gcAtMb ?? (() => Infinity);
  let garbage = rand() * (rate > 0 ? gcAt(0) : 0);
  let cycleAt = gcAt(0) * (0.8 + 0.4 * rand());
  let prevT = model.times[0] ?? 0;
  return model.times.map((t) => {
    if (rate > 0) {
      garbage += (rate * (t - prevT)) / 1000;
      while (garbage >= cycleAt) {
        garbage -= cycleAt;
        cycleAt = gcAt(t) * (0.8 + 0.4 * rand());
      }
    }
    prevT = t;
    const heapUsedMb = Math.max(1, model.floor(t) + garbage + (model.noiseMb ?? 0) * normal());
    return { t, heapUsedMb: Math.round(heapUsedMb * 1000) / 1000 };
  });
}

function regular(durationMs: number, intervalMs: number): number[] {
  const out: number[] = [];
  for (let t = 0; t <= durationMs; t += intervalMs) out.push(t);
  return out;
}

/** Builds every case of the corpus for one seed. */
export function buildCorpus(seed: number): CorpusCase[] {
  const rand = prng(seed * 7919 + 17);
  const normal = gaussian(rand);
  const s = (k: number): number => seed * 1000 + k;

  // irregular sampling: intervals of 0.2-3 s and two 20 s gaps (a blocked loop, a suspended VM)
  const irregular: number[] = [];
  for (let t = 0; t <= 10 * MIN; ) {
    irregular.push(t);
    t += 200 + rand() * 2800;
    if (irregular.length === 80 || irregular.length === 250) t += 20_000;
  }

  // mean-reverting wander: an Ornstein-Uhlenbeck floor (90 s time constant, ±8 MiB)
  const wander: number[] = [];
  {
    let x = 0;
    const dt = 1;
    const theta = 1 / 90;
    const sd = 8;
    for (let i = 0; i <= 15 * 60; i++) {
      wander.push(x);
      x += -theta * x * dt + sd * Math.sqrt(2 * theta * dt) * normal();
    }
  }

  const leaks: CorpusCase[] = [
    {
      name: 'linear leak with noise',
      leak: true,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: (t) => 60 + (4 * t) / MIN, noiseMb: 1.5 }, s(1)),
    },
    {
      name: 'leak under a GC sawtooth',
      leak: true,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: (t) => 80 + (2 * t) / MIN, garbageMbPerSec: 3, gcAtMb: () => 30, noiseMb: 0.5 }, s(2)),
    },
    {
      name: 'staircase growth',
      leak: true,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: (t) => 70 + 8 * Math.floor(t / MIN), garbageMbPerSec: 2, gcAtMb: () => 20, noiseMb: 0.5 }, s(3)),
    },
    {
      name: 'leak that starts halfway',
      leak: true,
      samples: simulate(
        { times: regular(20 * MIN, 1000), floor: (t) => 90 + Math.max(0, (1.8 * (t - 10 * MIN)) / MIN), garbageMbPerSec: 2, gcAtMb: () => 25, noiseMb: 0.5 },
        s(4),
      ),
    },
    {
      name: 'irregular sampling intervals',
      leak: true,
      samples: simulate({ times: irregular, floor: (t) => 50 + (3 * t) / MIN, garbageMbPerSec: 1.5, gcAtMb: () => 15, noiseMb: 0.5 }, s(5)),
    },
    {
      name: 'fast leak in a run of a few seconds',
      leak: true,
      samples: simulate({ times: regular(4000, 20), floor: (t) => 10 + (30 * t) / MIN, garbageMbPerSec: 20, gcAtMb: () => 4, noiseMb: 0.1 }, s(6)),
    },
    {
      name: 'slow leak under a wide sawtooth in an hour-long run',
      leak: true,
      samples: simulate({ times: regular(60 * MIN, 5000), floor: (t) => 120 + (1.5 * t) / MIN, garbageMbPerSec: 1, gcAtMb: () => 60, noiseMb: 2 }, s(7)),
    },
  ];

  const nonLeaks: CorpusCase[] = [
    {
      name: 'flat noise',
      leak: false,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: () => 100, noiseMb: 3 }, s(11)),
    },
    {
      name: 'sawtooth over a flat floor, peaks rising',
      leak: false,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: () => 80, garbageMbPerSec: 3, gcAtMb: (t) => 20 + (40 * t) / (10 * MIN), noiseMb: 0.5 }, s(12)),
    },
    {
      name: 'short warm-up then plateau',
      leak: false,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: (t) => 60 + 40 * Math.min(1, t / 30_000), garbageMbPerSec: 2, gcAtMb: () => 20, noiseMb: 0.5 }, s(13)),
    },
    {
      name: 'long warm-up then plateau',
      leak: false,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: (t) => 60 + 120 * (1 - Math.exp(-t / (1.2 * MIN))), garbageMbPerSec: 2, gcAtMb: () => 20, noiseMb: 0.5 }, s(14)),
    },
    {
      name: 'bounded cache that fills ever more slowly',
      leak: false,
      samples: simulate({ times: regular(12 * MIN, 1000), floor: (t) => 60 + 200 * (1 - Math.exp(-t / (3 * MIN))), garbageMbPerSec: 2, gcAtMb: () => 20, noiseMb: 0.5 }, s(15)),
    },
    {
      name: 'temporary spike',
      leak: false,
      samples: simulate(
        { times: regular(10 * MIN, 1000), floor: (t) => 100 + (t >= 6 * MIN && t < 6 * MIN + 20_000 ? 150 : 0), garbageMbPerSec: 2, gcAtMb: () => 20, noiseMb: 0.5 },
        s(16),
      ),
    },
    {
      name: 'one-time step up',
      leak: false,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: (t) => 80 + (t >= 4.5 * MIN ? 60 : 0), garbageMbPerSec: 2, gcAtMb: () => 20, noiseMb: 0.5 }, s(17)),
    },
    {
      name: 'shrinking heap',
      leak: false,
      samples: simulate({ times: regular(10 * MIN, 1000), floor: (t) => 200 - (3 * t) / MIN, garbageMbPerSec: 2, gcAtMb: () => 20, noiseMb: 0.5 }, s(18)),
    },
    {
      name: 'mean-reverting wander',
      leak: false,
      samples: simulate({ times: regular(15 * MIN, 1000), floor: (t) => 100 + (wander[Math.round(t / 1000)] ?? 0), garbageMbPerSec: 1, gcAtMb: () => 10, noiseMb: 0.5 }, s(19)),
    },
    {
      name: 'periodic batch load and release',
      leak: false,
      samples: simulate(
        {
          times: regular(12 * MIN, 1000),
          // every 2.5 min: 2 min loading 80 MiB of batch data, then released
          floor: (t) => {
            const phase = t % 150_000;
            return 70 + (phase < 120_000 ? (80 * phase) / 120_000 : 0);
          },
          garbageMbPerSec: 2,
          gcAtMb: () => 10,
          noiseMb: 0.5,
        },
        s(20),
      ),
    },
    {
      name: 'three samples',
      leak: false,
      samples: [
        { t: 0, heapUsedMb: 50 },
        { t: 1000, heapUsedMb: 60 },
        { t: 2000, heapUsedMb: 70 },
      ],
    },
  ];
  return [...leaks, ...nonLeaks];
}
