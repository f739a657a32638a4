/**
 * Makes strings from a report safe to print. Stage names, messages and run names come from the
 * program being monitored, so they can hold anything: an ANSI escape that recolours or clears the
 * terminal, a carriage return that overwrites the line, a bidirectional override that makes the
 * text read differently from what it is, or markdown that breaks a pull-request table.
 */

/** C0 and C1 control characters, DEL, line/paragraph separators and bidirectional controls. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Shows control characters as visible escapes: ESC as `\x1b`, a newline as `\n`, a bidirectional
 * override as `\u202e`. Everything else is kept as is.
 *
 * @example
 * escapeControl('load\x1b[2J'); // 'load\\x1b[2J'
 */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * A string as a markdown code span that is safe in a GitHub table cell: control characters
 * escaped, `|` escaped (GitHub splits cells on it even inside code), and a fence longer than any
 * run of backticks in the text. Inside a code span, `<script>`, `*`, `[links]` and `@mentions` are
 * shown, not interpreted.
 *
 * @example
 * markdownCode('a|b'); // '`a\\|b`'
 */
export function markdownCode(text: string): string {
  const safe = escapeControl(text).replace(/\|/g, '\\|');
  let longest = 0;
  for (const run of safe.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = '`'.repeat(longest + 1);
  // a space keeps a leading or trailing backtick apart from the fence (the renderer strips one space each side)
  const pad = safe.startsWith('`') || safe.endsWith('`') || safe === '' ? ' ' : '';
  return `${fence}${pad}${safe}${pad}${fence}`;
}

/**
 * Plain markdown text safe in a table cell and as a line of its own: control characters escaped and
 * every character that markdown or HTML would interpret backslash-escaped or written as an entity,
 * so `<img>`, `**`, `[x](y)` and `|` show as typed.
 *
 * @example
 * markdownText('<b>a|b</b>'); // '&lt;b&gt;a\\|b&lt;/b&gt;'
 */
export function markdownText(text: string): string {
  return escapeControl(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_{}[\]()#+!|~])/g, '\\$1')
    .replace(/@/g, '&#64;');
}
