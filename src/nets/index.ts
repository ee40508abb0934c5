export { Sequential, type SequentialOptions } from './sequential.js';
export { MultiLayerNet, type MultiLayerNetOptions } from './multi-layer-net.js';
export { ParameterSet } from './parameters.js';
export { initStd, type WeightInit } from './init.js';
export { MultiLayerNetExtend, type MultiLayerNetExtendOptions } from './multi-layer-net-extend.js';
export { SimpleConvNet, type SimpleConvNetOptions } from './simple-conv-net.js';
export { DeepConvNet, deepConvNetParams, type DeepConvNetOptions } from './deep-conv-net.js';
export { alexNet, type AlexNetOptions } from './alexnet.js';
export type { ConvParam } from './conv-stack.js';
