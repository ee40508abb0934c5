// Prints the error of createRuntime given a file: URL that does not exist (Bun's and Deno's fetch read
// file: URLs; Node's does not, and says so): the option and the file must be named.
import { createRuntime } from '../../dist/bundle/index.js';

const url = new URL('../../build/no-such-build.wasm', import.meta.url);
try {
  await createRuntime({ wasm: url, threads: 1 });
  console.log(JSON.stringify({ message: null }));
} catch (e) {
  console.log(JSON.stringify({ message: e.message }));
}
