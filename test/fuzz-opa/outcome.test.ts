import { expect } from 'chai';
import { generate } from './generator';
import { canonicalJson, canonicalNumber, difference } from './outcome';

describe('fuzz-opa outcome comparison', () => {
  it('compares numbers by exact decimal value, not spelling', () => {
    expect(canonicalNumber('1.50')).to.equal(canonicalNumber('1.5'));
    expect(canonicalNumber('1e3')).to.equal(canonicalNumber('1000'));
    expect(canonicalNumber('0.0')).to.equal('0');
    expect(canonicalNumber('0.3')).not.to.equal(canonicalNumber('0.30000000000000004'));
    expect(canonicalNumber('12345678901234567891')).not.to.equal(canonicalNumber('12345678901234567890'));
    const huge = '9'.repeat(5000);
    expect(canonicalJson(`[${huge}]`)).to.equal(`[${huge}e0]`);
  });
  it('ignores object member order and whitespace but keeps array order', () => {
    expect(canonicalJson('{"b": [1, 2], "a": "é"}')).to.equal(canonicalJson('{"a":"\\u00e9","b":[1,2]}'));
    expect(canonicalJson('[1,2]')).not.to.equal(canonicalJson('[2,1]'));
  });
  it('tells undefined, values and error classes apart', () => {
    expect(difference({ kind: 'undefined' }, { kind: 'value', value: '{}' })).to.equal('undefined vs ours value');
    expect(difference({ kind: 'error', codes: ['rego_type_error'], message: 'a' }, { kind: 'error', codes: ['rego_type_error'], message: 'b' })).to.equal(undefined);
    expect(difference({ kind: 'error', codes: ['eval_conflict_error'], message: '' }, { kind: 'error', codes: ['eval_type_error'], message: '' })).to.match(/^error/);
  });
  it('generates the same program for the same seed and index', () => {
    expect(generate('t', 7).module).to.equal(generate('t', 7).module);
    expect(generate('t', 7).module).not.to.equal(generate('t', 8).module);
  });
});
