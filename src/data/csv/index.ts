// simdnn/csv: tables from CSV text (RFC 4180) as rows of features and class labels on a runtime (parseCsv,
// loadCsv), and scikit-learn's StandardScaler for the features (fitStandardizer, standardize). Portable: text
// or bytes in, tensors out, so a page or an edge worker reads a table as Node does (simdnn/csv in Node adds
// loadCsvFile: a file, gzipped or not). A subpath of its own, as ONNX is: V8 scans every byte of a bundle it
// loads, and the reader (~20 KB of bundle) in the core would cost every `require('simdnn')` that never meets
// a table. It reaches the core only through its entry.
export { parseCsv, CsvError, type CsvOptions, type CsvTable } from './parse.js';
export { loadCsv, type LoadCsvOptions, type CsvDataSet } from './load.js';
export { fitStandardizer, standardize, type Standardizer } from './standardize.js';
