/**
 * The evaluation latency histogram: every Check that evaluates is counted on
 * every server mode; a cache hit answers without evaluating and is not.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { parsePrometheusText } from './helpers/prom-text';
import { FIXTURES, SERVER_MODES, startServer } from '../helpers/server';
import { createMetrics } from '../../src/telemetry/metrics';

describe('ops: evaluation latency histogram', function () {
  this.timeout(30000);

  for (const mode of SERVER_MODES) {
    it(`counts the Checks that evaluated (${mode.name})`, async () => {
      const metrics = createMetrics({ processMetrics: false });
      const srv = await startServer(path.join(FIXTURES, 'policies', 'decisions.rego'), undefined, undefined, mode, metrics);
      const client = v3Client(srv.addr);
      try {
        for (let i = 0; i < 3; i++) await checkV3(client, envoyCheckRequest({ path: '/plain-allow' }));
      } finally {
        client.close();
        await srv.close();
      }
      const m = parsePrometheusText(await metrics.text());
      // With the cache, the second and third identical requests are hits.
      const evaluated = mode.cache ? 1 : 3;
      expect(m.sum('sark_authz_evaluation_duration_seconds_count')).to.equal(evaluated);
      expect(m.sum('sark_authz_evaluation_duration_seconds_sum')).to.be.greaterThan(0);
      expect(m.sum('sark_authz_check_duration_seconds_count')).to.equal(3);
    });
  }
});
