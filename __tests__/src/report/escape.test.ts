import { escapeControl, markdownCode, markdownText } from '../../../src/report/escape';

describe('escapeControl', () => {
  test('shows C0, C1, DEL, line separators and bidirectional controls as escapes, and keeps the rest', () => {
    expect(escapeControl('a\x1b[31mb\x07\x00\x7f\x9b')).toBe('a\\x1b[31mb\\x07\\x00\\x7f\\x9b');
    expect(escapeControl('line\nbreak\r\ttab')).toBe('line\\nbreak\\r\\ttab');
    expect(escapeControl('admin\u202eexe.txt\u2066\u2028')).toBe('admin\\u202eexe.txt\\u2066\\u2028');
    expect(escapeControl('päß 日本 🙂 |<>`')).toBe('päß 日本 🙂 |<>`');
  });
});

describe('markdownCode', () => {
  test('a code span with | escaped and a fence longer than any backtick run', () => {
    expect(markdownCode('a|b')).toBe('`a\\|b`');
    expect(markdownCode('a`b``c')).toBe('```a`b``c```');
    expect(markdownCode('`edge`')).toBe('`` `edge` ``');
    expect(markdownCode('')).toBe('`  `');
    expect(markdownCode('x\x1b[2Jy')).toBe('`x\\x1b[2Jy`');
  });
});

describe('markdownText', () => {
  test('HTML, emphasis, links, pipes and mentions show as typed', () => {
    expect(markdownText('<b>a|b</b> *x* [l](u) @team &amp;')).toBe('&lt;b&gt;a\\|b&lt;/b&gt; \\*x\\* \\[l\\]\\(u\\) &#64;team &amp;amp;');
  });
});
