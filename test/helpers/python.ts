/** Python's grpcio (PyPI, in the project's own venv) as a second, independent gRPC client. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './server';

/** The venv scripts/install-deps.sh makes: independent of which python3 is first on PATH. */
export const PYTHON = path.join(ROOT, '.build', 'venv', 'bin', 'python');

/** True when the venv has grpc and grpc_tools (grpcio, grpcio-tools). */
export function pythonGrpcAvailable(): boolean {
  return fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools'], { stdio: 'ignore' }).status === 0;
}

/** Generates Python stubs for proto/ with grpc_tools.protoc into a fresh temp dir; returns it. */
export function generatePythonStubs(): string {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-authz-py-'));
  const protoDir = path.join(ROOT, 'proto');
  const files = listProtos(protoDir);
  const include = spawnSync(PYTHON, ['-c', 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))'], { encoding: 'utf8' }).stdout.trim();
  const r = spawnSync(PYTHON, ['-m', 'grpc_tools.protoc', `-I${protoDir}`, `-I${include}`, `--python_out=${out}`, `--grpc_python_out=${out}`, ...files], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`grpc_tools.protoc failed: ${r.stderr}`);
  // No __init__.py: the generated dirs are namespace packages, so `google/rpc`
  // here merges with the system's `google.protobuf` instead of shadowing it.
  return out;
}

function listProtos(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = path.join(rel, e.name);
    return e.isDirectory() ? listProtos(dir, p) : e.name.endsWith('.proto') ? [p] : [];
  });
}
