/**
 * Compiles a TypeScript entry and the relative modules it requires into plain CommonJS under
 * `outRoot`, keeping the repository layout. Child processes that must start fast (the random-kill
 * writer is started well over a hundred times) then run with plain `node`, without loading the
 * TypeScript compiler each time. Same compiler options as __tests__/helpers/register.js.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';

const ROOT = resolve(__dirname, '..', '..');

function resolveSource(fromFile: string, spec: string): string {
  const base = resolve(dirname(fromFile), spec);
  const found = [base, `${base}.ts`, join(base, 'index.ts')].find((c) => existsSync(c) && statSync(c).isFile());
  if (found === undefined) throw new Error(`cannot resolve ${spec} from ${fromFile}`);
  return found;
}

/** Returns the path of the compiled entry. */
export function compileForNode(entry: string, outRoot: string, done: Set<string> = new Set()): string {
  const source = resolve(entry);
  const target = join(outRoot, relative(ROOT, source)).replace(/\.ts$/, '.js');
  if (done.has(source)) return target;
  done.add(source);
  mkdirSync(dirname(target), { recursive: true });
  if (source.endsWith('.json')) {
    copyFileSync(source, target);
    return target;
  }
  const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), {
    fileName: source,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
  });
  writeFileSync(target, outputText);
  for (const m of outputText.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) compileForNode(resolveSource(source, m[1]!), outRoot, done);
  return target;
}
