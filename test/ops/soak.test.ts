/**
 * The soak of `make soak` (bench/soak.js) in its short form, as CI runs it:
 * the real server under half its max load with varied requests and policy
 * swaps; no Check may fail, every swap must take, RSS must stay within 64 MiB of
 * its middle third (45 s is still V8's heap warm-up; `make soak` holds the 10% rule).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers/server';

describe('ops: soak (short)', function () {
  this.timeout(180_000);

  it('serves half of max load with policy swaps: no failed Check, RSS bounded', () => {
    const run = spawnSync(process.execPath, ['bench/soak.js', '--minutes', '0.75', '--swap-seconds', '8', '--calibrate-seconds', '3', '--max-growth-mib', '64'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 170_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(0);
    const report = JSON.parse(fs.readFileSync(path.join(ROOT, '.build', 'soak.json'), 'utf8'));
    expect(report.failed).to.equal(0);
    expect(report.answered).to.be.greaterThan(100);
    expect(report.swaps).to.be.at.least(4);
    expect(report.reloadRecords).to.be.at.least(report.swaps);
    expect(report.latencyMs.p99).to.be.a('number');
    expect(report.rssKiB.levelled).to.equal(true);
  });
});
