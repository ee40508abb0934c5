// Node ESM resolve hook for tfjs-core's ESM build (dist/*.js), whose relative
// imports omit the '.js' extension: retry them with it. Used only to load
// @tensorflow/tfjs-core/dist/register_all_gradients.js (see harness.mjs).
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    if (!specifier.startsWith('.') || !context.parentURL?.includes('/@tensorflow/tfjs-core/dist/')) throw e;
    return next(`${specifier}.js`, context);
  }
}
