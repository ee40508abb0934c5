// simdnn/csv: tables from CSV text (RFC 4180) as rows of features and class labels on a runtime (parseCsv,
// loadCsv; loadCsvFeatures for rows without labels), scikit-learn's StandardScaler for the features
// (fitStandardizer, standardize), a table split and scaled as a run's data (splitTable), what a model trained on
// a table records of it (CsvModelInfo under CSV_KEY: csvModelMetadata, readCsvModelInfo), and a table back to CSV
// text (formatCsv). Portable: text or bytes in, tensors out, so a page or an edge worker reads a table as Node does (simdnn/csv in Node adds loadCsvFile and
// loadCsvFeaturesFile: a file, gzipped or not). A subpath of its own, as ONNX is: V8 scans every byte of a bundle it
// loads, and the reader and writer (~25 KB of bundle) in the core would cost every `require('simdnn')` that never meets
// a table. It reaches the core only through its entry.
export { parseCsv, CsvError, type CsvOptions, type CsvTable } from './parse.js';
export { loadCsv, type LoadCsvOptions, type CsvDataSet } from './load.js';
export { loadCsvFeatures, type LoadCsvFeaturesOptions, type CsvFeatures } from './features.js';
export { formatCsv, type FormatCsvOptions } from './format.js';
export { fitStandardizer, standardize, type Standardizer } from './standardize.js';
export { splitTable, testRowCount, type SplitTableOptions, type SplitTable } from './split-table.js';
export { CSV_KEY, csvModelMetadata, readCsvModelInfo, describeCsvInfo, type CsvModelInfo } from './model-metadata.js';
