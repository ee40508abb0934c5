// What a model trained on a table records of it (CsvModelInfo under the metadata key 'csv'): the contract between
// whatever trains on a table (simdnn train --data t.csv, the playground) and whatever reads more rows for the model
// (simdnn predict --data, simdnn info, a page that loads the file), so each reads the others' files.
import { describeValue } from '../../index.js';

/**
 * What a model trained on a CSV table records under the metadata key 'csv' (CSV_KEY), so that another table is read
 * the same way: the label column, the feature columns by name in the net's input order, the class names in the order
 * of the net's outputs, and the standardizer (fitStandardizer's mean and scale) fitted on the training rows.
 */
export interface CsvModelInfo {
  /** The label column's header name. */
  label: string;
  /** The feature columns' names, in the order of the net's inputs. */
  features: string[];
  /** The class names, in the order of the net's outputs. */
  classes: string[];
  /** Each feature's mean over the training rows (float64). */
  mean: number[];
  /** Each feature's scale over the training rows (its standard deviation; 1 for a constant column). */
  scale: number[];
}

/** The metadata key of CsvModelInfo in a model file (saveModel's and exportOnnx's metadata). */
export const CSV_KEY = 'csv';

/**
 * The metadata a model trained on a table carries, for saveModel's or exportOnnx's `metadata`: `{ csv: JSON }`, the
 * keys in CsvModelInfo's order (label, features, classes, mean, scale), so two writers of one table write the same text.
 * @throws Error naming what is wrong with `info` (as readCsvModelInfo reads it back), before anything is written.
 */
export function csvModelMetadata(info: CsvModelInfo): Record<string, string> {
  if (info === null || typeof info !== 'object') throw new TypeError(`csvModelMetadata: info must be { label, features, classes, mean, scale }, got ${describeValue(info)}`);
  const { label, features, classes, mean, scale } = readCsvModelInfo('csvModelMetadata: info', JSON.stringify(info));
  return { [CSV_KEY]: JSON.stringify({ label, features, classes, mean, scale }) };
}

/**
 * The CSV metadata of a model (CsvModelInfo, from the text under CSV_KEY), checked as far as its form (names distinct,
 * one finite mean and one positive finite scale per feature) and, when given, against the net's input width and
 * class count (`inputs`, `classes`).
 * @throws Error `<where>: metadata 'csv' …` saying what is wrong.
 */
export function readCsvModelInfo(where: string, text: string, inputs?: number, classes?: number): CsvModelInfo {
  const fail = (what: string): never => { throw new Error(`${where}: metadata '${CSV_KEY}' ${what}`); };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return fail(`is not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail('must be an object { label, features, classes, mean, scale }');
  const o = v as Record<string, unknown>;
  const strings = (key: string): string[] => {
    const a = o[key];
    if (!Array.isArray(a) || a.length === 0 || !a.every((s) => typeof s === 'string')) return fail(`.${key} must be a non-empty array of names`);
    if (new Set(a).size !== a.length) return fail(`.${key} names a column or class twice`);
    return a as string[];
  };
  if (typeof o.label !== 'string') return fail('.label must be the label column\'s name');
  const features = strings('features'), classNames = strings('classes');
  const numbers = (key: string, ok: (x: number) => boolean, expected: string): number[] => {
    const a = o[key];
    if (!Array.isArray(a) || a.length !== features.length || !a.every((x) => typeof x === 'number' && ok(x))) return fail(`.${key} must be ${features.length} ${expected} numbers, one per feature`);
    return a as number[];
  };
  const mean = numbers('mean', Number.isFinite, 'finite'), scale = numbers('scale', (x) => x > 0 && x < Infinity, 'positive finite');
  if (inputs !== undefined && features.length !== inputs) fail(`names ${features.length} features, but the net takes ${inputs} inputs`);
  if (classes !== undefined && classNames.length !== classes) fail(`names ${classNames.length} classes, but the net has ${classes} outputs`);
  return { label: o.label, features, classes: classNames, mean, scale };
}

/** A model's CSV metadata in a line: its label, classes and features (the first few of long lists). */
export function describeCsvInfo(info: CsvModelInfo): string {
  const few = (names: string[]) => (names.length > 8 ? [...names.slice(0, 8), `… (${names.length - 8} more)`] : names).join(', ');
  return `label '${info.label}', ${info.classes.length} classes (${few(info.classes)}); ${info.features.length} features, standardized (${few(info.features)})`;
}
