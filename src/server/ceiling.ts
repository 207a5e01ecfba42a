/**
 * The transport ceiling for benchmarks: a CheckResponse with status OK,
 * encoded once, sent without reading the request. What grpc-js alone costs.
 */
import { CheckResponse as CheckResponseV2 } from '../gen/envoy/service/auth/v2/external_auth';
import { CheckResponse as CheckResponseV3 } from '../gen/envoy/service/auth/v3/external_auth';
import type { ApiVersion } from './server';

export function ceilingResponse(version: ApiVersion): Buffer {
  const bytes =
    version === 'v3'
      ? CheckResponseV3.encode(CheckResponseV3.fromPartial({ status: { code: 0 } })).finish()
      : CheckResponseV2.encode(CheckResponseV2.fromPartial({ status: { code: 0 } })).finish();
  return Buffer.from(bytes);
}
