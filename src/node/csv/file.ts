// A CSV file as a data set (loadCsv) or as rows of features (loadCsvFeatures), gzipped or not: the file read
// whole, as the text loadCsv parses must fit one JavaScript string.
import { buffer, fsPromises, zlib } from '../builtins.js';
import { checkRuntime, describeValue, type Runtime } from '../index.js';
import { checkLoadCsvOptions, loadCsvAs, type CsvDataSet, type LoadCsvOptions } from '../../data/csv/load.js';
import { checkLoadCsvFeaturesOptions, loadCsvFeaturesAs, type CsvFeatures, type LoadCsvFeaturesOptions } from '../../data/csv/features.js';
import { CsvError, type CsvOptions, type CsvTable } from '../../data/csv/parse.js';
import { openTable } from '../../data/csv/table.js';

/**
 * The rows of the CSV file `file` as features and class labels on `rt` (loadCsv's options and result); a file
 * gzipped (by its first bytes, whatever its name) is inflated first. Its errors name loadCsvFile and the file.
 */
export async function loadCsvFile(rt: Runtime, file: string, options: LoadCsvOptions): Promise<CsvDataSet> {
  checkRuntime(rt, 'loadCsvFile');
  checkLoadCsvOptions('loadCsvFile', options); // before a large file is read
  const bytes = await readCsvBytes('loadCsvFile', file);
  return loadCsvAs(`loadCsvFile: ${file}`, rt, bytes, options);
}

/**
 * The rows of the CSV file `file` as features on `rt` (loadCsvFeatures' options and result: rows whose labels are
 * unknown); a file gzipped (by its first bytes, whatever its name) is inflated first. Its errors name
 * loadCsvFeaturesFile and the file.
 */
export async function loadCsvFeaturesFile(rt: Runtime, file: string, options: LoadCsvFeaturesOptions = {}): Promise<CsvFeatures> {
  checkRuntime(rt, 'loadCsvFeaturesFile');
  checkLoadCsvFeaturesOptions('loadCsvFeaturesFile', options); // before a large file is read
  const bytes = await readCsvBytes('loadCsvFeaturesFile', file);
  return loadCsvFeaturesAs(`loadCsvFeaturesFile: ${file}`, rt, bytes, options);
}

/**
 * @internal The CSV file `file` parsed (parseCsv's options, checked by the caller), for a caller that looks at its
 * columns before it loads them (simdnn predict: is the label column there?). Its errors name `who` and the file.
 */
export async function readCsvTableFile(who: string, file: string, parseOptions: CsvOptions): Promise<CsvTable> {
  return openTable(`${who}: ${file}`, await readCsvBytes(who, file), parseOptions);
}

/**
 * The bytes of the CSV file `file`, inflated when they are gzip's: refused (naming `who` and the file) when it is
 * no regular file, or holds more bytes than one string can (V8's longest, about 512 MiB: the text is parsed whole).
 */
async function readCsvBytes(who: string, file: string): Promise<Uint8Array> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`${who}: file must be a path, got ${describeValue(file)}`);
  const limit = buffer().constants.MAX_STRING_LENGTH;
  let bytes: Uint8Array;
  try {
    const st = await fsPromises().stat(file);
    // looked at before it is opened: reading a FIFO would wait for a writer
    if (st.isDirectory()) throw new Error('it is a directory, not a file');
    if (!st.isFile()) throw new Error('it is not a regular file (a pipe or device: save the table to a file first)');
    if (st.size > limit) throw new Error(`it is ${st.size} bytes, more than the ${limit} of the longest text this host holds (the table is parsed whole)`);
    bytes = await fsPromises().readFile(file);
  } catch (e) {
    throw new Error(`${who}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const z = zlib();
  try {
    return await new Promise<Uint8Array>((resolve, reject) => z.gunzip(bytes, { maxOutputLength: limit }, (e, out) => (e ? reject(e) : resolve(out))));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new CsvError(`${who}: ${file}: decompresses to more than the ${limit} bytes of the longest text this host holds`);
    throw new CsvError(`${who}: ${file}: a corrupt gzip stream (${(e as Error).message})`);
  }
}
