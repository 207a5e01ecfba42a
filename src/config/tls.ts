/**
 * gRPC listener credentials from certificate files: TLS with a certificate
 * and key, mTLS when a CA bundle is given too (clients must present a
 * certificate it signed). The files are re-read every `refreshMs`, so
 * rotated certificates (cert-manager, Kubernetes secrets) are picked up
 * without a restart.
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
  let pkey: crypto.KeyObject;
  let x509: crypto.X509Certificate;
  try {
    pkey = crypto.createPrivateKey(key);
  } catch (err) {
    throw new ConfigError(`--tls-private-key-file (${privateKeyFile})`, `is not a PEM private key: ${(err as Error).message}`);
  }
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`--tls-cert-file (${certFile})`, `is not a PEM certificate: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(pkey)) throw new ConfigError(`--tls-private-key-file (${privateKeyFile})`, `is not the key of --tls-cert-file (${certFile})`);
  if (caCertFile) readPem(caCertFile, '--tls-ca-cert-file');
  const refreshMs = files.refreshMs ?? 60000;
  const identity = new FileCertificateProvider({ certFile, privateKeyFile }, refreshMs);
  const ca = caCertFile ? new FileCertificateProvider({ caCertFile }, refreshMs) : null;
  // grpc-js's parameter names are swapped: the first provider gives the identity, the second the CA.
  return grpc.experimental.createCertificateProviderServerCredentials(identity, ca, ca !== null);
}

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * Certificates read synchronously when constructed and handed to grpc-js
 * on the tick after it subscribes, before any connection is accepted
 * (grpc-js's own file watcher reads asynchronously, and its server drops
 * connections until the first read completes), then re-read every
 * `refreshMs` while in use; listeners hear only about changed content.
 * A file that cannot be read later keeps the last good certificate.
 */
class FileCertificateProvider implements grpc.experimental.CertificateProvider {
  private ca: Buffer | null = null;
  private identity: { certificate: Buffer; privateKey: Buffer } | null = null;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly files: { certFile?: string; privateKeyFile?: string; caCertFile?: string },
    private readonly refreshMs: number,
  ) {
    this.read();
  }

  private read(): boolean {
    let changed = false;
    try {
      if (this.files.caCertFile) {
        const ca = fs.readFileSync(this.files.caCertFile);
        if (!this.ca || !ca.equals(this.ca)) [this.ca, changed] = [ca, true];
      }
      if (this.files.certFile && this.files.privateKeyFile) {
        const certificate = fs.readFileSync(this.files.certFile);
        const privateKey = fs.readFileSync(this.files.privateKeyFile);
        // A rotation writes two files: use the pair only once the key matches the certificate.
        if (!new crypto.X509Certificate(certificate).checkPrivateKey(crypto.createPrivateKey(privateKey))) return false;
        if (!this.identity || !certificate.equals(this.identity.certificate) || !privateKey.equals(this.identity.privateKey)) [this.identity, changed] = [{ certificate, privateKey }, true];
      }
    } catch {
      return false;
    }
    return changed;
  }

  private refresh(): void {
    if (!this.read()) return;
    for (const l of this.caListeners) l(this.ca ? { caCertificate: this.ca } : null);
    for (const l of this.identityListeners) l(this.identity);
  }

  private watch(): void {
    if (this.caListeners.size + this.identityListeners.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
    } else if (!this.timer) {
      this.timer = setInterval(() => this.refresh(), this.refreshMs);
      this.timer.unref();
    }
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.watch();
    // Next tick: grpc-js attaches its own watcher right after adding this listener; an update
    // delivered synchronously would miss it. No connection is accepted before the tick.
    process.nextTick(() => this.caListeners.has(listener) && listener(this.ca ? { caCertificate: this.ca } : null));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.watch();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.watch();
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.identity));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.watch();
  }
}
