import { VmsError } from '../engine/errors.js';
import { parseMemoryMiB, parseSize, SizeError } from '../engine/units.js';

/** Option values as the CLI reads them: one parser per kind of value, each with a one-line error. */

/** The one number parser of the CLI: a whole number, or a one-line error that shows one. */
export function wholeNumber(value: string | boolean | undefined, option: string, example = '2'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) throw new VmsError(`--${option} takes a whole number, such as --${option} ${example}.`);
  return Number(value);
}

/** `--memory 2G`: the one size grammar, in whole MiB. */
export function memoryOption(value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  return asVmsError(() => parseMemoryMiB(String(value), '--memory'));
}

/** A size option such as `--disk-size 20G`, in bytes. */
export function sizeOption(value: string | boolean | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  return asVmsError(() => parseSize(String(value), `--${option}`));
}

function asVmsError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof SizeError) throw new VmsError(error.message, { cause: error });
    throw error;
  }
}


