#!/usr/bin/env node
// The `sark-authz` command. The TypeScript sources compile to dist/ (`make ts`).
'use strict';

const path = require('node:path');

/**
 * Exits once stdout and stderr have handed everything written to the OS: a
 * pipe is written asynchronously, and process.exit() would cut the output
 * (at 64 KiB, the pipe's buffer). A write callback runs after every earlier
 * write on its stream; a reader that went away (EPIPE) ends the wait too.
 */
function exitAfterFlush(code) {
  const flushed = (stream) =>
    new Promise((resolve) => {
      if (stream.destroyed || stream.writableFinished) return resolve();
      stream.once('error', resolve);
      stream.write('', resolve);
    });
  Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => process.exit(code));
}

// `sark-authz eval … | head`: a closed pipe is not an error of ours.
process.stdout.on('error', (err) => {
  if (err.code !== 'EPIPE') throw err;
});

let cli;
try {
  cli = require(path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js'));
} catch (err) {
  process.stderr.write(`sark-authz: cannot load dist/src/cli/main.js (run \`make build\` first): ${err.message}\n`);
  exitAfterFlush(1);
  return;
}

cli.main(process.argv.slice(2)).then(exitAfterFlush, (err) => {
  process.stderr.write(`sark-authz: ${err && err.stack ? err.stack : err}\n`);
  exitAfterFlush(1);
});
