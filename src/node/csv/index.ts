// simdnn/csv in Node: the portable tables (src/data/csv) and loadCsvFile, which reads a CSV file, gzipped or not.
export * from '../../data/csv/index.js';
export { loadCsvFile } from './file.js';
