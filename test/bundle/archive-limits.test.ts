/**
 * A gzip bomb in a bundle (issue 16.7): inflating stops at
 * bundle.size_limit_bytes with an error naming the limit, instead of
 * inflating to 512 MiB and calling the archive "not a gzip archive".
 */
import { expect } from 'chai';
import * as zlib from 'node:zlib';
import { DEFAULT_SIZE_LIMIT_BYTES, parseBundle } from '../../src/bundle/archive';
import { AuthzError } from '../../src/errors';

/** A tarball holding one file of `size` zero bytes, gzipped (a few hundred KiB per 100 MiB), built in 1 MiB steps. */
function zeroBomb(size: number): Promise<Buffer> {
  const header = Buffer.alloc(512);
  header.write('data.json', 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\x0000', 257);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return new Promise((resolve, reject) => {
    const gz = zlib.createGzip({ level: 9 });
    const out: Buffer[] = [];
    gz.on('data', (c: Buffer) => out.push(c));
    gz.on('end', () => resolve(Buffer.concat(out)));
    gz.on('error', reject);
    gz.write(header);
    const mib = Buffer.alloc(1024 * 1024);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, mib.length);
        left -= n;
        if (!gz.write(n === mib.length ? mib : mib.subarray(0, n))) return void gz.once('drain', pump);
      }
      gz.end(Buffer.alloc(1024));
    };
    pump();
  });
}

async function refusal(archive: Buffer, limit?: number): Promise<AuthzError> {
  try {
    await parseBundle(archive, limit);
  } catch (err) {
    return err as AuthzError;
  }
  throw new Error('the bundle was accepted');
}

describe('bundle: size limit', function () {
  this.timeout(60000);

  it('stops inflating a gzip bomb at the default limit, naming it', async () => {
    const bomb = await zeroBomb(100 * 1024 * 1024);
    expect(bomb.length).to.be.lessThan(1024 * 1024);
    const err = await refusal(bomb);
    expect(err).to.be.instanceOf(AuthzError);
    expect(err.code).to.equal('bundle_too_large');
    expect(err.message).to.include(`bundle.size_limit_bytes (${DEFAULT_SIZE_LIMIT_BYTES} bytes)`);
  });

  it('applies a configured limit to the inflated and the compressed size', async () => {
    const small = await zeroBomb(2 * 1024 * 1024);
    const err = await refusal(small, 1024 * 1024);
    expect(err.code).to.equal('bundle_too_large');
    expect(err.message).to.include('(1048576 bytes)').and.include('inflates');
    const tooBig = await refusal(small, 1000);
    expect(tooBig.code).to.equal('bundle_too_large');
    expect(tooBig.message).to.include(`the archive is ${small.length} bytes`);
  });

  it('still reports an archive that is not gzip as such', async () => {
    const err = await refusal(Buffer.from('this is not gzip'));
    expect(err.code).to.equal('bundle_corrupt');
    expect(err.message).to.match(/not a gzip archive/);
  });
});
