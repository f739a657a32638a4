import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomicInBackground } from '../../../src/report/write';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-bgwrite-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const yes = (): boolean => true;

describe('writeFileAtomicInBackground', () => {
  test('writes the pieces, joined, over the target, and leaves no temp file; the temp path is announced, then cleared', async () => {
    const out = join(dir, 'sub', 'r.json');
    const pieces = Array.from({ length: 3000 }, (_, i) => `${i},é€😀;`); // multi-byte characters across group boundaries
    const seen: Array<string | undefined> = [];
    await expect(writeFileAtomicInBackground(out, pieces, yes, (t) => seen.push(t))).resolves.toBe(true);
    expect(readFileSync(out, 'utf8')).toBe(pieces.join(''));
    expect(readdirSync(join(dir, 'sub'))).toEqual(['r.json']);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatch(/\/\.r\.json\.[0-9a-f]{16}\.tmp$/);
    expect(seen[1]).toBeUndefined();
  });

  test('writes megabytes in groups: the file is whole', async () => {
    const out = join(dir, 'big.json');
    const pieces = Array.from({ length: 40 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(256 * 1024));
    await writeFileAtomicInBackground(out, pieces, yes);
    expect(readFileSync(out, 'utf8')).toBe(pieces.join(''));
  });

  test('when it is no longer wanted at the rename, the target is left as it was and the temp file removed', async () => {
    const out = join(dir, 'r.json');
    writeFileSync(out, 'final report');
    await expect(writeFileAtomicInBackground(out, ['old checkpoint'], () => false)).resolves.toBe(false);
    expect(readFileSync(out, 'utf8')).toBe('final report');
    expect(readdirSync(dir)).toEqual(['r.json']);
  });

  test('a symlink at the target is replaced, never written through', async () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious');
    const out = join(dir, 'r.json');
    symlinkSync(victim, out);
    await writeFileAtomicInBackground(out, ['report'], yes);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readFileSync(out, 'utf8')).toBe('report');
  });

  test('a FIFO, a directory or a path under a file is refused, and no temp file is left', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(writeFileAtomicInBackground(fifo, ['x'], yes)).rejects.toMatchObject({ code: 'ENOTREGULAR' });
    mkdirSync(join(dir, 'd'));
    await expect(writeFileAtomicInBackground(join(dir, 'd'), ['x'], yes)).rejects.toMatchObject({ code: 'ENOTREGULAR' });
    writeFileSync(join(dir, 'file'), '');
    await expect(writeFileAtomicInBackground(join(dir, 'file', 'r.json'), ['x'], yes)).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(readdirSync(dir).sort()).toEqual(['d', 'fifo', 'file']);
    expect(existsSync(join(dir, 'd', 'x'))).toBe(false);
  });
});
