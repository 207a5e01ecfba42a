/**
 * gRPC listener credentials from certificate files: TLS with a certificate
 * and key, mTLS when a CA bundle is given too (clients must present a
 * certificate it signed). The files are re-read every `refreshMs` (grpc-js's
 * FileWatcherCertificateProvider), so rotated certificates (cert-manager,
 * Kubernetes secrets) are picked up without a restart.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from './config-file';

export interface TlsFiles {
  certFile?: string;
  privateKeyFile?: string;
  caCertFile?: string;
  /** How often the files are re-read, ms. Default 60000. */
  refreshMs?: number;
}

function readPem(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${key} (${file})`, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`);
  }
}

/** Null when no TLS is configured; throws ConfigError naming the key of a missing or unreadable file. */
export function serverCredentials(files: TlsFiles): grpc.ServerCredentials | null {
  const { certFile, privateKeyFile, caCertFile } = files;
  if (!certFile && !privateKeyFile && !caCertFile) return null;
  if (!certFile || !privateKeyFile) throw new ConfigError(certFile ? '--tls-private-key-file' : '--tls-cert-file', 'is required for TLS (both the certificate and its key)');
  const cert = readPem(certFile, '--tls-cert-file');
  const key = readPem(privateKeyFile, '--tls-private-key-file');
  try {
    crypto.createPrivateKey(key);
  } catch (err) {
    throw new ConfigError(`--tls-private-key-file (${privateKeyFile})`, `is not a PEM private key: ${(err as Error).message}`);
  }
  try {
    new crypto.X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`--tls-cert-file (${certFile})`, `is not a PEM certificate: ${(err as Error).message}`);
  }
  if (caCertFile) readPem(caCertFile, '--tls-ca-cert-file');
  const refreshIntervalMs = files.refreshMs ?? 60000;
  const identity = new grpc.experimental.FileWatcherCertificateProvider({ certificateFile: certFile, privateKeyFile, refreshIntervalMs });
  const ca = caCertFile ? new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: caCertFile, refreshIntervalMs }) : null;
  // grpc-js's parameter names are swapped: the first provider gives the identity, the second the CA.
  return grpc.experimental.createCertificateProviderServerCredentials(identity, ca, ca !== null);
}
