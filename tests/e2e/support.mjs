// Shared setup for the *.test.mjs files: the Parse JS SDK configured from the environment the pytest wrapper
// (tests/e2e/test_js_sdk.py) sets, unique class names, and assertions on Parse.Error codes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Parse from 'parse/node';

/** Every test and hook gets this timeout (ms), so a hung request fails the test instead of the run. */
export const TIMEOUT = 30_000;
export const T = { timeout: TIMEOUT };

const REQUIRED = ['SERVER_URL', 'APP_ID', 'JS_KEY', 'MASTER_KEY'];

/** Parse initialised against the server under test. The master key is only sent with `{useMasterKey: true}`. */
export function connectParse() {
  const missing = REQUIRED.filter((name) => !process.env[name]);
  if (missing.length) {
    throw new Error(`missing ${missing.join(', ')}: run these files through pytest tests/e2e, or set `
      + 'SERVER_URL=http://127.0.0.1:PORT/parse APP_ID=... JS_KEY=... MASTER_KEY=...');
  }
  Parse.initialize(process.env.APP_ID, process.env.JS_KEY, process.env.MASTER_KEY);
  Parse.serverURL = process.env.SERVER_URL;
  return Parse;
}

const RUN = randomBytes(4).toString('hex');

/** A class name no other test (or earlier run against the same server) uses. */
export function uniqueClassName(base) {
  return `${base}_${RUN}_${randomBytes(3).toString('hex')}`;
}

/** Awaits `promise`, which must reject with a Parse.Error of `code`; returns that error. */
export async function rejectsWithCode(promise, code, what = 'the request') {
  let value;
  try {
    value = await promise;
  } catch (error) {
    assert.ok(error instanceof Parse.Error,
      `${what}: expected a Parse.Error ${code}, got ${error?.constructor?.name}: ${error?.message ?? error}`);
    assert.equal(error.code, code, `${what}: expected Parse.Error code ${code}, got ${error.code} "${error.message}"`);
    return error;
  }
  assert.fail(`${what}: expected a Parse.Error ${code}, but it succeeded with ${JSON.stringify(value)}`);
}

/** The values of `key` of `objects`, sorted: compare result sets without depending on their order. */
export function sortedValues(objects, key = 'name') {
  return objects.map((o) => o.get(key)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export { Parse, assert };

/** An unfetched object of `className` with id `objectId` (the SDK's createWithoutData on a subclass). */
export function withoutData(className, objectId) {
  return Parse.Object.extend(className).createWithoutData(objectId);
}
