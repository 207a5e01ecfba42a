/**
 * The differential fuzzer's saved cases (test/fuzz-opa/cases), replayed
 * against the native engine with OPA's stored outcome: no `opa` needed.
 * `fixed` cases must match OPA exactly; `open` ones (a known difference,
 * listed in docs/conformance.md) are pending until the engine is fixed.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { loadCases } from './cases';
import { evaluateOurs, nativeAvailable } from './ours';
import { describe as describeOutcome, difference } from './outcome';

const dir = path.resolve(__dirname, '..', '..', '..', 'test', 'fuzz-opa', 'cases');

describe('fuzz-opa saved cases', () => {
  const cases = loadCases(dir);
  it('has saved cases to replay', () => {
    expect(cases.length).to.be.greaterThan(0);
  });
  for (const { file, c } of cases) {
    const name = `${path.basename(file)}: ${c.note}`;
    if (c.status === 'open') {
      it.skip(name);
      continue;
    }
    it(name, function () {
      if (!nativeAvailable()) this.skip();
      const got = evaluateOurs(c);
      const diff = difference(c.opa, got);
      expect(diff, `OPA ${describeOutcome(c.opa)} ${c.opa.kind === 'value' ? c.opa.value : ''}, ours ${describeOutcome(got)} ${got.kind === 'value' ? got.value : got.kind === 'error' ? got.message : ''}`).to.equal(undefined);
    });
  }
});
