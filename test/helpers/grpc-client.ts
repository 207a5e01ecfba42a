/** grpc-js clients for the running server: typed Check v3/v2, raw bytes, health and reflection. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { AuthorizationClient as AuthorizationClientV2 } from '../../src/gen/envoy/service/auth/v2/external_auth';
import { AuthorizationClient, CheckRequest, CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';

export function v3Client(addr: string): AuthorizationClient {
  return new AuthorizationClient(addr, grpc.credentials.createInsecure());
}

export function v2Client(addr: string): AuthorizationClientV2 {
  return new AuthorizationClientV2(addr, grpc.credentials.createInsecure());
}

export function checkV3(client: AuthorizationClient, request: CheckRequest): Promise<CheckResponse> {
  return new Promise((resolve, reject) => client.check(request, (err, res) => (err ? reject(err) : resolve(res))));
}

/** A client that sends `bytes` as the request message unchanged (identity serializer). */
export function rawCall(addr: string, method: string, bytes: Buffer): Promise<Buffer> {
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  }).finally(() => client.close());
}

const loaderOptions: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** A grpc.health.v1 client on its own connection, for repeated probes. */
export function healthClient(addr: string): { probe(service?: string): Promise<string>; close(): void } {
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, loaderOptions)) as any;
  const client = new def.grpc.health.v1.Health(addr, grpc.credentials.createInsecure());
  return {
    probe: (service = '') =>
      new Promise((resolve, reject) => client.Check({ service }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res.status)))),
    close: () => client.close(),
  };
}

/** One health probe on a connection of its own. */
export async function healthCheck(addr: string, service = ''): Promise<string> {
  const client = healthClient(addr);
  try {
    return await client.probe(service);
  } finally {
    client.close();
  }
}

/** One server reflection v1 request over a real bidi stream; resolves to the first response. */
export async function reflectionRequest(addr: string, request: Record<string, unknown>): Promise<any> {
  const proto = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(proto, loaderOptions)) as any;
  const client = new def.grpc.reflection.v1.ServerReflection(addr, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on('data', (res: unknown) => {
        resolve(res);
        call.end();
      });
      call.on('error', reject);
      call.write(request);
    });
  } finally {
    client.close();
  }
}
