// Checks the published type declarations name only the public contract: every type that a
// declaration reachable from the package entry refers to is exported by the entry itself (or
// comes from another package), and no internal member (an underscore method, a run-state field)
// leaks. Run after `npm run build`: node .ci/dts-check.mjs
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const entry = join(root, 'dist/src/index.d.ts');
const program = ts.createProgram([entry], { noEmit: true, skipLibCheck: true, types: ['node'] });
const checker = program.getTypeChecker();
const entrySource = program.getSourceFile(entry);
const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(entrySource)).map((s) => s.getName()));

const problems = [];
const seen = new Set();
const fromDist = (file) => file.startsWith(join(root, 'dist'));

function visitType(type, where) {
  if (type === undefined || seen.has(type)) return;
  seen.add(type);
  const sym = type.aliasSymbol ?? type.getSymbol();
  const decl = sym?.declarations?.[0];
  if (decl !== undefined && fromDist(decl.getSourceFile().fileName)) {
    const name = sym.getName();
    const named = (sym.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum)) !== 0;
    if (named && !exported.has(name)) problems.push(`${where} refers to ${name}, which the package does not export`);
  }
  for (const t of type.aliasTypeArguments ?? []) visitType(t, where);
  if (type.isUnionOrIntersection()) for (const t of type.types) visitType(t, where);
  if (type.getSymbol()?.declarations?.some((d) => fromDist(d.getSourceFile().fileName))) {
    for (const prop of checker.getPropertiesOfType(type)) {
      const pname = prop.getName();
      if (pname.startsWith('_') || pname.startsWith('__@')) problems.push(`${where}.${pname} is an internal member`);
      const pdecl = prop.valueDeclaration ?? prop.declarations?.[0];
      if (pdecl !== undefined) visitType(checker.getTypeOfSymbolAtLocation(prop, pdecl), `${where}.${pname}`);
    }
    for (const sig of [...type.getCallSignatures(), ...type.getConstructSignatures()]) {
      for (const p of sig.getParameters()) visitType(checker.getTypeOfSymbolAtLocation(p, p.valueDeclaration), `${where}(${p.getName()})`);
      visitType(sig.getReturnType(), `${where}()`);
    }
  }
}

for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(entrySource))) {
  const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
  const decl = target.valueDeclaration ?? target.declarations?.[0];
  if (decl === undefined) continue;
  visitType(checker.getTypeOfSymbolAtLocation(target, decl), sym.getName());
  if (target.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class)) visitType(checker.getDeclaredTypeOfSymbol(target), sym.getName());
}
const text = readFileSync(entry, 'utf8');
if (!existsSync(entry) || text.length === 0) problems.push('no dist/src/index.d.ts');
if (problems.length > 0) {
  console.error(`type declarations name internals:\n  ${[...new Set(problems)].join('\n  ')}`);
  process.exit(1);
}
console.log(`type declarations: ${exported.size} exports, nothing internal`);
