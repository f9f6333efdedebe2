#!/usr/bin/env node
// The cairn command. Kept tiny: all behaviour lives in dist/cli, loaded lazily per command.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
