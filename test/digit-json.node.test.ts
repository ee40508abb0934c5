// parseDigitJson reads the `mnist` package's digit files from their bytes: the
// same pixels and the same errors as its JSON path (digitsFromJson: JSON.parse
// and the check the loader made before, whose messages are pinned below), on the
// real files, on forms the package does not use, and on mutated files.
import { describe, it, expect, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { digitsFromJson, parseDigitJson } from '../src/data/digit-json.js';

const reference = digitsFromJson;

const PIXELS = 784;
const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');

type Outcome = { bytes: number[] } | { error: string };
function outcome(read: (b: Uint8Array, s: string) => Uint8Array, bytes: Uint8Array): Outcome {
  try {
    return { bytes: Array.from(read(bytes, 'd.json')) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);
/** A value as the package writes one: pixel/255 to 3 decimals, shortest form (0, 1, 0.2, 0.624). */
const packageValue = (p: number) => String(Math.round((p / 255) * 1000) / 1000);
let seed = 7;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const image = () => Array.from({ length: PIXELS }, () => (rand() < 0.6 ? 0 : Math.floor(rand() * 256)));
const file = (values: string[], open = '{ "data": [', close = ']}') => utf8(open + values.join(',') + close);

describe('parseDigitJson', () => {
  it('reads each of the package\'s 10 files to the loader\'s former bytes, without JSON.parse', () => {
    const files = Array.from({ length: 10 }, (_, d) => new Uint8Array(readFileSync(path.join(dir, `${d}.json`))));
    const parse = vi.spyOn(JSON, 'parse');
    let got: Uint8Array[];
    try {
      got = files.map((bytes, d) => parseDigitJson(bytes, `${d}.json`));
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    files.forEach((bytes, d) => {
      const expected = reference(bytes, `${d}.json`);
      expect(got[d].length, `${d}.json`).toBe(expected.length);
      expect(Buffer.compare(Buffer.from(got[d]), Buffer.from(expected)), `${d}.json`).toBe(0);
    });
  });

  it('every pixel value in the package\'s form, and two images', () => {
    const values = Array.from({ length: 256 }, (_, p) => packageValue(p));
    const twoImages = Array.from({ length: 2 * PIXELS }, (_, i) => values[i % 256]);
    const bytes = file(twoImages);
    expect(outcome(parseDigitJson, bytes)).toEqual(outcome(reference, bytes));
    expect(Array.from(parseDigitJson(bytes, 'd').subarray(0, 256))).toEqual(Array.from({ length: 256 }, (_, p) => p));
  });

  it('forms the package does not write read as JSON reads them, errors included', () => {
    const img = image().map(packageValue);
    const at = (i: number, v: string) => img.map((x, j) => (j === i ? v : x));
    const cases: Record<string, Uint8Array> = {
      'spaces after commas': utf8('{ "data": [' + img.join(', ') + ']}'),
      'newlines and tabs around': utf8('\n{\t"data" :\r\n[' + img.join(',') + ' ] } \n'),
      'an exponent': file(at(5, '5e-1')),
      'a negative zero': file(at(3, '-0')),
      '1.0 and 1.000': file(at(7, '1.000').map((v, j) => (j === 8 ? '1.0' : v))),
      '15 fraction digits': file(at(9, '0.123456789012345')),
      '16 fraction digits': file(at(9, '0.1234567890123456')),
      'a value above 1': file(at(100, '1.5')),
      'a value of 2': file(at(100, '2')),
      'a negative value': file(at(100, '-0.5')),
      'a leading zero': file(at(10, '01')),
      'a bare dot': file(at(10, '0.')),
      'no integer part': file(at(10, '.5')),
      'a string': file(at(11, '"0.5"')),
      'null': file(at(12, 'null')),
      'a byte-order mark (refused, as before)': utf8('\uFEFF{ "data": [' + img.join(',') + ']}'),
      'a no-break space (not JSON whitespace)': utf8('{\u00A0"data": [' + img.join(',') + ']}'),
      'empty': file([]),
      '783 values': file(img.slice(1)),
      '785 values': file([...img, '0']),
      'no data key': utf8('{ "pixels": [' + img.join(',') + ']}'),
      'a second key after': utf8('{ "data": [' + img.join(',') + '], "x": 1}'),
      'trailing garbage': utf8('{ "data": [' + img.join(',') + ']}x'),
      'cut short': utf8('{ "data": [' + img.join(',')),
      'a trailing comma': utf8('{ "data": [' + img.join(',') + ',]}'),
      'an empty file': new Uint8Array(0),
      'not an object': utf8('[' + img.join(',') + ']'),
    };
    for (const [name, bytes] of Object.entries(cases)) expect(outcome(parseDigitJson, bytes), name).toEqual(outcome(reference, bytes));
    // the cases reach both outcomes: read, and refused
    const kinds = Object.values(cases).map((b) => 'error' in outcome(parseDigitJson, b));
    expect(kinds).toContain(true);
    expect(kinds).toContain(false);
  });

  it('the JSON path refuses as the loader did: its messages, and a byte-order mark (readFile(…, \'utf8\') kept it)', () => {
    const img = image().map(packageValue);
    const refused = (bytes: Uint8Array) => () => parseDigitJson(bytes, 'd.json');
    expect(refused(utf8('\uFEFF{ "data": [' + img.join(',') + ']}'))).toThrow(/^loadMnist: d\.json: Unexpected token .*is not valid JSON$/);
    expect(refused(utf8('{ "pixels": [0] }'))).toThrow(/^loadMnist: d\.json: expected an object \{ "data": \[pixel values\] \}$/);
    expect(refused(file(img.slice(1)))).toThrow(/^loadMnist: d\.json: holds 783 values, not a whole number of 784-pixel images$/);
    expect(refused(file(img.map((v, j) => (j === 100 ? '1.5' : v))))).toThrow(/^loadMnist: d\.json: data\[100\] is 1\.5, expected a pixel value in \[0, 1\]$/);
    expect(refused(file(img.map((v, j) => (j === 11 ? '"0.5"' : v))))).toThrow(/^loadMnist: d\.json: data\[11\] is "0\.5", expected a pixel value in \[0, 1\]$/);
  });

  it('3,000 mutated files: the same pixels or the same error as JSON', () => {
    const base = new TextDecoder().decode(file(image().map(packageValue)));
    const alphabet = '0123456789.,-+eE ]}["x\n';
    for (let n = 0; n < 3000; n++) {
      const chars = base.split('');
      for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) {
        const i = Math.floor(rand() * chars.length);
        const op = rand();
        const c = alphabet[Math.floor(rand() * alphabet.length)];
        if (op < 0.4) chars[i] = c;
        else if (op < 0.7) chars.splice(i, 0, c);
        else chars.splice(i, 1);
      }
      const bytes = utf8(chars.join(''));
      expect(outcome(parseDigitJson, bytes), chars.join('').slice(0, 80)).toEqual(outcome(reference, bytes));
    }
  });
});
