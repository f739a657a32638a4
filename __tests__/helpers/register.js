/**
 * Lets a child process `require()` the TypeScript sources directly:
 *   node -r ./__tests__/helpers/register.js some-script.ts
 * Each .ts file is transpiled with the project's compiler (no type check). Set
 * STAGEMETER_TEST_LEGACY_DECORATORS=1 to compile with experimentalDecorators + emitDecoratorMetadata.
 */
'use strict';
const fs = require('node:fs');
const ts = require('typescript');

const legacy = process.env.STAGEMETER_TEST_LEGACY_DECORATORS === '1';

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      resolveJsonModule: true,
      experimentalDecorators: legacy,
      emitDecoratorMetadata: legacy,
      inlineSourceMap: true,
    },
  });
  module._compile(outputText, filename);
};
