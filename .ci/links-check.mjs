// Checks that every relative link in the Markdown files of the packed package points to a file
// that is in the package too (a link to bench/ or __tests__/ would be dead for a user who reads
// the docs from node_modules). Usage: node links-check.mjs <unpacked package dir>
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = process.argv[2];
if (root === undefined) throw new Error('usage: node links-check.mjs <package dir>');

function* markdown(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(path).isDirectory()) yield* markdown(path);
    else if (name.endsWith('.md')) yield path;
  }
}

const dead = [];
for (const file of markdown(root)) {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    const path = join(dirname(file), target.split('#')[0]);
    if (!existsSync(path)) dead.push(`${relative(root, file)}: ${target}`);
  }
}
if (dead.length > 0) {
  console.error(`links that do not resolve inside the package:\n  ${dead.join('\n  ')}`);
  process.exit(1);
}
console.log('links in the packed docs resolve inside the package');
