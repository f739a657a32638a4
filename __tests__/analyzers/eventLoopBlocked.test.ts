import { eventLoopBlocked } from '../../analyzers/eventLoopBlocked';
import { rec, runOf, th, tick } from './fixtures';

/** Ticks every second for 3 s, with `delayMs` of accumulated loop delay on the tick at t=2 s. */
function ticksWithDelay(delayMs: number) {
  return [0, 1000, 2000, 3000].map((t) => tick(t, 50, { loopDelayMs: t === 2000 ? delayMs : 0.5 }));
}

describe('eventLoopBlocked', () => {
  it('a synchronous call longer than eventLoopBlockedMs is direct evidence', () => {
    expect(eventLoopBlocked.analyze(runOf({ stages: [rec('parse', 100, 250, { sync: true })] }), th())).toEqual([
      {
        kind: 'event_loop_blocked',
        severity: 'warning',
        stage: 'parse',
        message: 'parse held the event loop for 250 ms in one synchronous call (t=100 ms); 1 call(s) over 100 ms, 250 ms in all',
        evidence: { durationMs: 250, eventLoopBlockedMs: 100, attribution: ['synchronous call'], blockingCalls: 1, blockedMs: 250, longestCallMs: 250, longestAtMs: 100 },
      },
    ]);
  });

  it('with nesting, the innermost blocking call is blamed, not its ancestors', () => {
    const outer = rec('outer', 0, 400, { sync: true });
    const inner = rec('inner', 50, 300, { sync: true, parentId: outer.id });
    expect(eventLoopBlocked.analyze(runOf({ stages: [outer, inner] }), th()).map((f) => f.stage)).toEqual(['inner']);
  });

  it('a parent whose short synchronous children add up over the limit is blamed itself', () => {
    const outer = rec('batch', 0, 190, { sync: true });
    const kids = [0, 60, 120].map((t) => rec('row', t, 60, { sync: true, parentId: outer.id }));
    expect(eventLoopBlocked.analyze(runOf({ stages: [outer, ...kids] }), th()).map((f) => f.stage)).toEqual(['batch']);
  });

  it('asynchronous calls are not direct evidence, however long', () => {
    expect(eventLoopBlocked.analyze(runOf({ stages: [rec('fetch', 0, 5000)] }), th())).toEqual([]);
  });

  it('a blocked tick while a single stage runs is pinned on that stage', () => {
    const run = runOf({ stages: [rec('crunch', 0, 3000)], samples: ticksWithDelay(450) });
    expect(eventLoopBlocked.analyze(run, th())).toEqual([
      {
        kind: 'event_loop_blocked',
        severity: 'warning',
        stage: 'crunch',
        message: 'The event loop was held up for 450 ms within one sampler tick (t=2 s) while crunch was running; 1 tick(s) over 100 ms',
        evidence: { durationMs: 450, eventLoopBlockedMs: 100, attribution: ['tick while only this stage was running'], blockedTicks: 1, maxLoopDelayMs: 450, maxLoopDelayAtMs: 2000 },
      },
    ]);
  });

  it('a blocked tick is pinned on the synchronous call that overlapped it', () => {
    const outer = rec('crunch', 0, 3000);
    const parse = rec('parse', 1200, 90, { sync: true, parentId: outer.id });
    const [f] = eventLoopBlocked.analyze(runOf({ stages: [outer, parse], samples: ticksWithDelay(450) }), th());
    expect(f).toMatchObject({ stage: 'parse', evidence: { attribution: ['tick during a synchronous call'], maxLoopDelayMs: 450 } });
  });

  it('a blocked tick that reports lateness built up before the previous tick still finds its call', () => {
    // the sampler ticked at 1000 right after parse ended; the lateness shows on the tick at 2000
    const parse = rec('parse', 400, 590, { sync: true });
    const [f] = eventLoopBlocked.analyze(runOf({ stages: [parse], samples: ticksWithDelay(560) }), th());
    expect(f).toMatchObject({ stage: 'parse', evidence: { blockingCalls: 1, blockedTicks: 1, maxLoopDelayMs: 560 } });
  });

  it('a blocked tick during several concurrent stages is reported without a stage, naming them', () => {
    const run = runOf({ stages: [rec('a', 0, 3000), rec('b', 10, 2990)], samples: ticksWithDelay(450) });
    expect(eventLoopBlocked.analyze(run, th())).toEqual([
      {
        kind: 'event_loop_blocked',
        severity: 'warning',
        message: 'The event loop was held up for 450 ms within one sampler tick (t=2 s) while a, b were running; 1 tick(s) over 100 ms could not be pinned on one stage',
        evidence: { durationMs: 450, eventLoopBlockedMs: 100, blockedTicks: 1, atMs: 2000, runningStages: ['a', 'b'] },
      },
    ]);
  });

  it('blocking for a second or more (and 10× the limit) is an error; under the limit nothing', () => {
    expect(eventLoopBlocked.analyze(runOf({ stages: [rec('load', 0, 1500, { sync: true })] }), th())[0]!.severity).toBe('error');
    expect(eventLoopBlocked.analyze(runOf({ stages: [rec('quick', 0, 80, { sync: true })], samples: ticksWithDelay(90) }), th())).toEqual([]);
  });
});
