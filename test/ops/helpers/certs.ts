/** Certificates made at test time with the openssl command line: CAs, server and client certificates. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sh } from './process';

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA: `NAME.crt`, `NAME.key` in `dir`. */
export function makeCa(dir: string, name: string): void {
  sh('openssl', ['req', '-x509', ...KEY, '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`), '-days', '2', '-subj', `/CN=${name}`]);
}

/** A certificate `NAME.crt`/`NAME.key` signed by CA `ca`, for localhost and 127.0.0.1 (server and client use). */
export function makeCert(dir: string, name: string, ca: string): void {
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  sh('openssl', ['req', ...KEY, '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.csr`), '-subj', `/CN=${name}`]);
  sh('openssl', ['x509', '-req', '-in', path.join(dir, `${name}.csr`), '-CA', path.join(dir, `${ca}.crt`), '-CAkey', path.join(dir, `${ca}.key`), '-CAcreateserial', '-out', path.join(dir, `${name}.crt`), '-days', '2', '-extfile', ext]);
}
