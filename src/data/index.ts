export { parseIdx, encodeIdx, type IdxArray } from './idx.js';
export { stratifiedSplit, seededRandom, type Split } from './split.js';
export {
  imagesTensor, oneHot, selectRows, firstRows, classCount, toDataSet,
  type RawImages, type TensorOptions, type DataSet,
} from './dataset.js';
export { RandomAffine, type RandomAffineOptions } from './augment.js';
export { Dataset, type Batch } from './tensors.js';
export { smoothCurve, kaiserWindow } from './smooth.js';
