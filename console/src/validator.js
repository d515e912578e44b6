// The engine's own validator and lint, compiled from broker-core to wasm
// (console/validator): the page never carries a second copy of the rules.
import init, { validate as wasmValidate, lint as wasmLint } from '../build/pkg/validator.js';

let ready = null;

/** Loads the module once; the wasm sits beside console.js under /console/assets/. */
export function loadValidator() {
  ready ??= init({ module_or_path: new URL('validator_bg.wasm', import.meta.url) }).catch((e) => {
    ready = null; // a later sign-in tries again
    throw new Error(`The validator could not be loaded (${e.message}). Reload the page to try again.`);
  });
  return ready;
}

/** `{ok, errors: [{path, message, kind, code, trigger}], summary?}`. */
export function validate(text) {
  return JSON.parse(wasmValidate(text));
}

/** `[{path, message, trigger}]` against the catalog's JSON text ('' for none). */
export function lint(text, catalogJson) {
  return JSON.parse(wasmLint(text, catalogJson ?? ''));
}
