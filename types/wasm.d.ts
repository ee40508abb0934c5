// The type of `import wasm from 'simdnn/wasm/<build>.wasm'` (package.json gives each of the four wasm builds
// this declaration under the `types` condition, and node10 resolution through typesVersions). What such an
// import gives is the bundler's rule for .wasm files: a compiled WebAssembly.Module where it compiles them
// (wrangler's and workerd's CompiledWasm: edge runtimes forbid compiling from bytes), or the URL of the file it
// emits where it copies them (esbuild's file loader, webpack's asset/resource). createRuntime's wasm,
// relaxedWasm, sharedWasm and relaxedSharedWasm take either as it is.
declare const wasm: WebAssembly.Module | string;
export default wasm;
