#!/usr/bin/env node
// The `sark-authz` command. The TypeScript sources compile to dist/ (`make ts`).
'use strict';

const path = require('node:path');

let cli;
try {
  cli = require(path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js'));
} catch (err) {
  process.stderr.write(`sark-authz: cannot load dist/src/cli/main.js (run \`make build\` first): ${err.message}\n`);
  process.exit(1);
}

cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`sark-authz: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
