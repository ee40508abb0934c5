// simdnn/csv in Node: the portable tables (src/data/csv), and loadCsvFile and loadCsvFeaturesFile, which read a
// CSV file, gzipped or not.
export * from '../../data/csv/index.js';
export { loadCsvFile, loadCsvFeaturesFile } from './file.js';
