/**
 * gRPC server reflection (v1 and v1alpha) over every service this server
 * answers: Authorization v3 and v2 (from the generated descriptor set),
 * grpc.health.v1.Health and the reflection service itself, so
 * `grpcurl -plaintext ADDR list` and `describe` work.
 */
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { Server } from '@grpc/grpc-js';
import { DESCRIPTOR_SET_BASE64 } from '../gen/descriptor-set';

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

function reflectionProtoPath(): string {
  // @grpc/reflection ships its protos next to its build output.
  return path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
}

/** The package definition reflection describes. */
export function reflectedPackages(): protoLoader.PackageDefinition {
  return {
    ...protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(DESCRIPTOR_SET_BASE64, 'base64'), LOADER_OPTIONS),
    ...protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS),
    ...protoLoader.loadSync(reflectionProtoPath(), LOADER_OPTIONS),
  };
}

export function addReflection(server: Server): void {
  new ReflectionService(reflectedPackages()).addToServer(server);
}
