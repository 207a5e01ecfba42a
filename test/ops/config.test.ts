/** `serve --config FILE`: one schema, file < SARK_* env < flags, errors naming the key. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { envName, mergeLayers, readConfigFile, readEnv, readFlags, readmeSettingsTable, SETTINGS, settingsTable } from '../../src/config/config-file';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { FIXTURES, ROOT } from '../helpers/server';
import { runCli, startCli } from './helpers/process';

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');

describe('ops: configuration file, environment and flags', function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-cfg-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it('layers defaults < file < env < flags', () => {
    const file = write('c.yaml', 'addr: 127.0.0.1:7000\ncache:\n  max_entries: 5\n  ttl: 100\nlog_level: warn\ndecision_logs:\n  mask: ["/input/x"]\n');
    const merged = mergeLayers(readConfigFile(file), readEnv({ SARK_CACHE_MAX_ENTRIES: '6', SARK_LOG_LEVEL: 'debug', SARK_NATIVE: '1' }), readFlags({ 'log-level': 'error' }));
    expect(merged.get('addr')).to.equal('127.0.0.1:7000');
    expect(merged.get('cache.max_entries')).to.equal(6);
    expect(merged.get('cache.ttl')).to.equal(100);
    expect(merged.get('cache.max_bytes')).to.equal(64 * 1024 * 1024);
    expect(merged.get('log_level')).to.equal('error');
    expect(merged.get('decision_logs.mask')).to.deep.equal(['/input/x']);
    expect(merged.get('path')).to.equal('envoy/authz/allow');
  });

  it('every setting has a distinct environment variable', () => {
    const names = SETTINGS.map((s) => envName(s.key));
    expect(new Set(names).size).to.equal(names.length);
    expect(envName('metrics.addr')).to.equal('SARK_METRICS_ADDR');
  });

  const bad: Array<[string, string, RegExp]> = [
    ['an unknown key', 'cache:\n  max_entrys: 5\n', /c\.yaml: cache\.max_entrys is not a known setting/],
    ['a negative integer', 'cache:\n  max_entries: -5\n', /c\.yaml: cache\.max_entries must be a non-negative integer/],
    ['a bad enum', 'log_level: loud\n', /c\.yaml: log_level must be one of trace, debug, info, warn, error, fatal/],
    ['a non-map section', 'tls: yes\n', /c\.yaml: tls must be a map/],
    ['a bad boolean', 'dry_run: maybe\n', /c\.yaml: dry_run must be true or false/],
    ['broken YAML', 'addr: [\n', /c\.yaml not valid YAML/],
  ];
  for (const [name, text, msg] of bad) {
    it(`refuses ${name}, naming the key`, () => {
      expect(() => readConfigFile(write('c.yaml', text))).to.throw(msg);
    });
  }

  it('flags come from the schema: switches turn a setting on (or off, inverted), others carry a value', () => {
    const flags = readFlags({ 'no-cache': true, 'dry-run': true, watch: 'false', 'cache-size': '7' });
    expect(flags.get('cache.enabled')).to.equal(false);
    expect(flags.get('dry_run')).to.equal(true);
    expect(flags.get('watch')).to.equal(false);
    expect(flags.get('cache.max_entries')).to.equal(7);
    expect(readFlags({}).size).to.equal(0);
  });

  it('names the variable of a bad environment value', () => {
    expect(() => readEnv({ SARK_WORKERS: 'many' })).to.throw(/SARK_WORKERS must be a non-negative integer/);
  });

  it('serve --config: exit 2 naming the key of a bad value; flags override the file', async () => {
    const badFile = write('bad.yaml', `policy: ${POLICY}\ncache:\n  max_bytes: lots\n`);
    const r = await runCli(['serve', '--config', badFile]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('cache.max_bytes must be a non-negative integer');
    const r2 = await runCli(['serve', '--config', write('mask.yaml', `policy: ${POLICY}\ndecision_logs:\n  mask: ["/headers/x"]\n`)]);
    expect(r2.code).to.equal(2);
    expect(r2.stderr).to.include('decision_logs.mask[0]: path must start with /input or /result');

    const good = write('good.yaml', `policy: ${POLICY}\naddr: 127.0.0.1:1\npath: envoy/authz/allow\nlog_level: info\ncache:\n  enabled: false\n`);
    const served = startCli(['serve', '--config', good, '--addr', '127.0.0.1:0'], { SARK_LOG_LEVEL: 'debug' });
    try {
      const rec = await served.waitForMsg('serving');
      expect(rec.cache).to.equal('off');
      const client = v3Client(rec.addr as string);
      try {
        expect((await checkV3(client, envoyCheckRequest({ path: '/ok' }))).status?.code).to.equal(0);
      } finally {
        client.close();
      }
    } finally {
      expect(await served.stop()).to.equal(0);
    }
  });

  it('the documented schema lists every setting', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
    for (const s of SETTINGS) expect(doc, s.key).to.include(`\`${s.key}\``);
    // The table is the schema's, row for row (regenerate with settingsTable()).
    expect(doc).to.include(settingsTable());
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).to.include(readmeSettingsTable());
  });
});
