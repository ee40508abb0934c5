export { Sequential, type SequentialOptions } from './sequential.js';
export { MultiLayerNet, type MultiLayerNetOptions } from './multi-layer-net.js';
export { ParameterSet } from './parameters.js';
export { initStd, type WeightInit } from './init.js';
