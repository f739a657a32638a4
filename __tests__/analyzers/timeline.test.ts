import { buildTimeline, innermostActive, namesOf } from '../../analyzers/timeline';
import { rec } from './fixtures';

describe('buildTimeline', () => {
  it('self time, self CPU and own heap growth subtract the child stages', () => {
    const p = rec('parent', 0, 100, { cpuMs: 80, heapMb: 20 });
    const a = rec('childA', 10, 30, { parentId: p.id, cpuMs: 30, heapMb: 5 });
    const b = rec('childB', 50, 20, { parentId: p.id, cpuMs: 10, heapMb: 2 });
    const tl = buildTimeline([p, a, b]);
    expect(tl.stages.get('parent')).toEqual({
      totalMs: 100,
      selfMs: 50,
      sumMs: 100,
      selfCpuMs: 40,
      selfWallMs: 50,
      cpuEstimated: false,
      maxSelfHeapDeltaMb: 13,
      maxSelfHeapDeltaAtMs: 0,
      netSelfHeapDeltaMb: 13,
      records: 1,
      probedRecords: 1,
    });
    expect(tl.stages.get('childA')).toMatchObject({ totalMs: 30, selfMs: 30, selfCpuMs: 30, maxSelfHeapDeltaMb: 5 });
    expect(tl.childrenOf.get(p.id)).toEqual([a, b]);
    expect(tl.byId.get(b.id)).toBe(b);
  });

  it('concurrent calls of one stage count their wall time once', () => {
    const tl = buildTimeline([rec('fetch', 0, 100), rec('fetch', 50, 100), rec('fetch', 300, 10)]);
    expect(tl.stages.get('fetch')).toMatchObject({ totalMs: 160, selfMs: 160, sumMs: 210, records: 3 });
  });

  it('a recursive call of the same stage is its own time, not a child', () => {
    const outer = rec('walk', 0, 100);
    const inner = rec('walk', 20, 40, { parentId: outer.id });
    expect(buildTimeline([outer, inner]).stages.get('walk')).toMatchObject({ totalMs: 100, selfMs: 100 });
  });

  it('a child that outlives its parent only counts while the parent runs', () => {
    const p = rec('p', 0, 50);
    const c = rec('c', 40, 60, { parentId: p.id });
    const tl = buildTimeline([p, c]);
    expect(tl.stages.get('p')).toMatchObject({ totalMs: 50, selfMs: 40, selfWallMs: 40 });
    expect(tl.stages.get('c')).toMatchObject({ totalMs: 60, selfMs: 60 });
  });

  it('estimated heap figures are not counted as measured growth', () => {
    const tl = buildTimeline([rec('hot', 0, 1, { heapMb: 3, memory: { heapUsedDeltaMb: 3, estimated: true }, fidelity: 'timing' }), rec('hot', 1, 1, { heapMb: 1 })]);
    expect(tl.stages.get('hot')).toMatchObject({ probedRecords: 1, maxSelfHeapDeltaMb: 1, netSelfHeapDeltaMb: 1, records: 2 });
  });

  it('records out of start order give the same result', () => {
    const p = rec('parent', 0, 100, { cpuMs: 80 });
    const a = rec('childA', 10, 30, { parentId: p.id, cpuMs: 30 });
    expect(buildTimeline([a, p]).stages).toEqual(buildTimeline([p, a]).stages);
  });

  it('parentOf finds the parent record, as byId does (the last record of a repeated id)', () => {
    const p = rec('parent', 0, 100);
    const c = rec('child', 10, 30, { parentId: p.id });
    const twin = rec('parent', 50, 10, { id: p.id });
    const tl = buildTimeline([p, c, twin]);
    expect(tl.parentOf(c)).toBe(twin);
    expect(tl.parentOf(c)).toBe(tl.byId.get(p.id));
    expect(tl.parentOf(p)).toBeUndefined();
    expect(tl.childrenOf.get(p.id)).toEqual([c]);
  });

  it('a child listed before its parent, both starting at once, is nested as any other', () => {
    // records out of start order are sorted, and a tie keeps its input order: here the child
    // comes first, before any record of its parent's stage was met
    const other = rec('other', 5, 1);
    const p = rec('parent', 10, 100);
    const c = rec('child', 10, 40, { parentId: p.id });
    const tl = buildTimeline([other, c, p]);
    expect(tl.parentOf(c)).toBe(p);
    expect(tl.stages.get('parent')).toMatchObject({ totalMs: 100, selfMs: 60, records: 1 });
    expect(tl.stages.get('child')).toMatchObject({ totalMs: 40, selfMs: 40, records: 1 });
  });

  it('no records: no stages', () => {
    expect(buildTimeline([]).stages.size).toBe(0);
  });
});

describe('innermostActive', () => {
  const p = rec('outer', 0, 100);
  const c = rec('inner', 10, 10, { parentId: p.id });
  const other = rec('other', 90, 30);

  it('names the innermost stage running in each window, most overlap first', () => {
    const [during, later, after, none] = innermostActive(
      [p, c, other],
      [
        [15, 16],
        [95, 105],
        [110, 115],
        [500, 600],
      ],
    );
    expect(during!.map((a) => [a.record.name, a.overlapMs])).toEqual([['inner', 1]]);
    expect(later!.map((a) => [a.record.name, a.overlapMs])).toEqual([
      ['other', 10],
      ['outer', 5],
    ]);
    expect(namesOf(after!)).toEqual(['other']);
    expect(none).toEqual([]);
  });

  it('windows given in any order get their own answers', () => {
    const [late, early] = innermostActive([p, c], [
      [50, 60],
      [12, 13],
    ]);
    expect(namesOf(late!)).toEqual(['outer']);
    expect(namesOf(early!)).toEqual(['inner']);
  });

  it('a filter restricts the candidates (the parent is then innermost)', () => {
    const [w] = innermostActive([p, c], [[12, 13]], (r) => r.name === 'outer');
    expect(namesOf(w!)).toEqual(['outer']);
  });
});
