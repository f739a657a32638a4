import { fmtAt, fmtMb, fmtMs, fmtNum, fmtP, fmtPct, fmtRate } from '../../analyzers/format';

describe('format', () => {
  it('durations pick their unit', () => {
    expect([fmtMs(0.0123), fmtMs(5.25), fmtMs(850), fmtMs(12_400), fmtMs(192_000), fmtMs(9_000_000), fmtMs(Number.NaN)]).toEqual([
      '0.012 ms',
      '5.3 ms',
      '850 ms',
      '12.4 s',
      '3.2 min',
      '2.5 h',
      '0 ms',
    ]);
    expect(fmtAt(1500)).toBe('t=1.5 s');
  });

  it('memory, percentages, numbers and p-values', () => {
    expect([fmtMb(512.4), fmtMb(34.56), fmtMb(0.256), fmtMb(12_345)]).toEqual(['512 MB', '34.6 MB', '0.26 MB', '12,345 MB']);
    expect([fmtPct(72.4), fmtPct(4.55), fmtPct(0.314)]).toEqual(['72%', '4.6%', '0.31%']);
    expect([fmtNum(1234567), fmtNum(0.5, 1), fmtNum(Infinity)]).toEqual(['1,234,567', '0.5', '0']);
    expect([fmtRate(409_569.2), fmtRate(412.5), fmtRate(12.34), fmtRate(0.05)]).toEqual(['409,569', '413', '12.3', '0.1']);
    expect([fmtP(0.0004), fmtP(0.0123)]).toEqual(['p<0.001', 'p=0.012']);
  });
});
