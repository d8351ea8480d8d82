import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** An incremental checksum whose digest is written base64, big-endian, as S3 sends it. */
export interface Checksum {
  update(data: Uint8Array): void;
  digestBase64(): string;
}

/** The `x-amz-checksum-<name>` algorithms S3 accepts in headers and trailers. */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export function isChecksumAlgorithm(name: string): name is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(name);
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-64/NVME (reflected 0x9a6c9329ac4bc9b5), as two 32-bit halves to avoid per-byte BigInt. */
const CRC64_TABLE = (() => {
  const hi = new Uint32Array(256);
  const lo = new Uint32Array(256);
  const poly = 0x9a6c9329ac4bc9b5n;
  for (let n = 0; n < 256; n++) {
    let c = BigInt(n);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n;
    hi[n] = Number(c >> 32n);
    lo[n] = Number(c & 0xffffffffn);
  }
  return { hi, lo };
})();

function uint32Base64(value: number): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value >>> 0);
  return out.toString('base64');
}

/** A fresh checksum of `algorithm`. */
export function createChecksum(algorithm: ChecksumAlgorithm): Checksum {
  switch (algorithm) {
    case 'crc32': {
      let value = 0;
      return {
        update(data) {
          value = crc32(data, value);
        },
        digestBase64: () => uint32Base64(value),
      };
    }
    case 'crc32c': {
      let crc = 0xffffffff;
      return {
        update(data) {
          for (let i = 0; i < data.length; i++) {
            crc = CRC32C_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
          }
        },
        digestBase64: () => uint32Base64(crc ^ 0xffffffff),
      };
    }
    case 'crc64nvme': {
      let hi = 0xffffffff;
      let lo = 0xffffffff;
      const { hi: tableHi, lo: tableLo } = CRC64_TABLE;
      return {
        update(data) {
          for (let i = 0; i < data.length; i++) {
            const index = (lo ^ data[i]!) & 0xff;
            lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ tableLo[index]!;
            hi = (hi >>> 8) ^ tableHi[index]!;
          }
        },
        digestBase64() {
          const out = Buffer.allocUnsafe(8);
          out.writeUInt32BE((hi ^ 0xffffffff) >>> 0, 0);
          out.writeUInt32BE((lo ^ 0xffffffff) >>> 0, 4);
          return out.toString('base64');
        },
      };
    }
    default: {
      const hash = createHash(algorithm);
      return {
        update(data) {
          hash.update(data);
        },
        digestBase64: () => hash.digest('base64'),
      };
    }
  }
}
