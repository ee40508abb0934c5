// The seeded run in workerd: the wasm arrives as a compiled module (workerd
// forbids compiling from bytes); one thread (no Worker API there).
import * as simdnn from './simdnn.js';
import wasm from './simdnn.wasm';
import { trainHash } from './train-hash.mjs';

const { createRuntime } = simdnn;

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === '/no-wasm') {
      // without options.wasm the runtime cannot locate the packaged build here: it must say so
      return createRuntime().then(() => Response.json({ error: null }), (e) => Response.json({ error: String(e) }));
    }
    if (pathname !== '/train-hash') return new Response('not found', { status: 404 });
    const rt = await createRuntime({ seed: 1, wasm });
    try {
      return Response.json(await trainHash(simdnn, rt));
    } catch (e) {
      return Response.json({ error: String(e?.stack ?? e) }, { status: 500 });
    } finally {
      rt.dispose();
    }
  },
};
