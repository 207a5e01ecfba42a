/**
 * gRPC server reflection (v1 and v1alpha) over every service this server
 * answers: Authorization v3 and v2, grpc.health.v1.Health and reflection
 * itself, so `grpcurl -plaintext ADDR list`, `describe` and calls with `-d`
 * work. The descriptors are protoc's (the generated descriptor set).
 *
 * Not @grpc/reflection: it sends a file without the files it imports
 * (grpc/grpc-node#3034), and proto-loader's descriptors name map entries
 * wrongly, so grpcurl can resolve neither Check's messages nor Health.
 * Each answer here carries the file and everything it imports.
 */
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import type { MethodDefinition, Server, ServerDuplexStream, ServiceDefinition } from '@grpc/grpc-js';
import { DESCRIPTOR_SET_BASE64 } from '../gen/descriptor-set';

/** What reflection answers from: files by name, the file declaring each symbol, the services. */
interface Index {
  files: Map<string, { proto: FileDescriptorProto; bytes: Uint8Array }>;
  fileOfSymbol: Map<string, string>;
  services: string[];
  messages: Record<'v1' | 'v1alpha', { request: DescMessage; response: DescMessage }>;
}

let index: Index | undefined;

function buildIndex(): Index {
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(DESCRIPTOR_SET_BASE64, 'base64'));
  const registry = createFileRegistry(set);
  const files: Index['files'] = new Map();
  const fileOfSymbol = new Map<string, string>();
  const services: string[] = [];
  for (const f of set.file) {
    files.set(f.name, { proto: f, bytes: toBinary(FileDescriptorProtoSchema, f) });
    const prefix = f.package ? `${f.package}.` : '';
    const addMessage = (m: DescriptorProto, scope: string) => {
      const name = `${scope}${m.name}`;
      fileOfSymbol.set(name, f.name);
      for (const e of m.enumType) fileOfSymbol.set(`${name}.${e.name}`, f.name);
      for (const n of m.nestedType) addMessage(n, `${name}.`);
    };
    for (const m of f.messageType) addMessage(m, prefix);
    for (const e of f.enumType) fileOfSymbol.set(`${prefix}${e.name}`, f.name);
    for (const s of f.service) {
      const name = `${prefix}${s.name}`;
      services.push(name);
      fileOfSymbol.set(name, f.name);
      for (const m of s.method) fileOfSymbol.set(`${name}.${m.name}`, f.name);
    }
  }
  const message = (name: string): DescMessage => {
    const d = registry.getMessage(name);
    if (!d) throw new Error(`descriptor set lacks ${name}`);
    return d;
  };
  const messages = {
    v1: { request: message('grpc.reflection.v1.ServerReflectionRequest'), response: message('grpc.reflection.v1.ServerReflectionResponse') },
    v1alpha: { request: message('grpc.reflection.v1alpha.ServerReflectionRequest'), response: message('grpc.reflection.v1alpha.ServerReflectionResponse') },
  };
  return { files, fileOfSymbol, services: services.sort(), messages };
}

/** `name` and every file it imports, transitively, each once (serialized FileDescriptorProtos). */
function withDependencies(idx: Index, name: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (n: string) => {
    const f = idx.files.get(n);
    if (!f || seen.has(n)) return;
    seen.add(n);
    out.push(f.bytes);
    for (const d of f.proto.dependency) visit(d);
  };
  visit(name);
  return out;
}

type Request = { host: string; messageRequest: { case: string | undefined; value?: unknown } };

/** The answer to one reflection request (a ServerReflectionResponse's fields). */
function answer(idx: Index, req: Request): Record<string, unknown> {
  const notFound = (what: string) => ({ case: 'errorResponse', value: { errorCode: 5, errorMessage: `${what} not found` } });
  const files = (name: string | undefined) => (name ? { case: 'fileDescriptorResponse', value: { fileDescriptorProto: withDependencies(idx, name) } } : undefined);
  const { case: kind, value } = req.messageRequest;
  let response;
  switch (kind) {
    case 'listServices':
      response = { case: 'listServicesResponse', value: { service: idx.services.map((name) => ({ name })) } };
      break;
    case 'fileByFilename':
      response = idx.files.has(value as string) ? files(value as string) : notFound(`file ${String(value)}`);
      break;
    case 'fileContainingSymbol':
      response = files(idx.fileOfSymbol.get(value as string)) ?? notFound(`symbol ${String(value)}`);
      break;
    case 'fileContainingExtension':
      response = notFound('extension');
      break;
    case 'allExtensionNumbersOfType':
      response = idx.fileOfSymbol.has(value as string)
        ? { case: 'allExtensionNumbersResponse', value: { baseTypeName: value as string, extensionNumber: [] } }
        : notFound(`type ${String(value)}`);
      break;
    default:
      response = { case: 'errorResponse', value: { errorCode: 3, errorMessage: 'unknown reflection request' } };
  }
  return { validHost: req.host, originalRequest: req, messageResponse: response };
}

function reflectionMethod(version: 'v1' | 'v1alpha'): MethodDefinition<Buffer, Uint8Array> {
  return {
    path: `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    responseDeserialize: (b: Buffer) => b,
  };
}

export function addReflection(server: Server): void {
  for (const version of ['v1', 'v1alpha'] as const) {
    const handler = (call: ServerDuplexStream<Buffer, Uint8Array>) => {
      index ??= buildIndex();
      const { request, response } = index.messages[version];
      call.on('data', (bytes: Buffer) => {
        try {
          const req = fromBinary(request, bytes) as unknown as Request;
          call.write(toBinary(response, create(response, answer(index!, req) as never)));
        } catch {
          // grpc-js ends a streaming call with this status.
          call.emit('error', { code: 3, details: 'malformed reflection request' });
        }
      });
      call.on('end', () => call.end());
    };
    server.addService({ ServerReflectionInfo: reflectionMethod(version) } as ServiceDefinition, { ServerReflectionInfo: handler });
  }
}
