#!/usr/bin/env node
// The CLI entry: the compiled program lives in dist/ (built by `npm install` through `prepare`).
require('../dist/src/main.js').runCli(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err && err.message ? err.message : err); process.exitCode = 1; },
);
