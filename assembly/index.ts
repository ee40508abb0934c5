// The module's export surface: every kernel family, and where the facade may
// start allocating. Documented in ARCHITECTURE.md ("Kernel ABI").
export * from "./gemm";
export * from "./elementwise";
export * from "./softmax";
export * from "./rng";
export * from "./norm";
export * from "./conv";
export * from "./pool";
export * from "./optim";
export * from "./augment";
export * from "./chain";
export * from "./guarded";
export * from "./known";

// First byte the facade may use: everything below holds the module's static data.
export function heapBase(): usize {
  return __heap_base;
}
