// Bundle-time stand-in for the @peculiar ASN.1 and X.509 packages that @simplewebauthn/server
// imports, wired by `[alias]` in wrangler.toml. They weigh ~90 KiB gzip and serve only attestation
// certificates (packed with x5c, TPM, Android, Apple, FIDO U2F) and the metadata service; this
// Worker asks for `attestation: "none"`, so it never reads a certificate. What it does need is the
// one ASN.1 structure every ES256 assertion carries: the DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3),
// parsed below. Tests run against the real packages; the browser suite runs this bundle.

const notBundled = () => new Error("X.509 attestation is not bundled in this Worker (src/build/webauthn-asn1.ts)");

/** `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` — the only schema `AsnParser` knows here. */
export class ECDSASigValue {
  r = new ArrayBuffer(0);
  s = new ArrayBuffer(0);
}

export const AsnParser = {
  parse(data: BufferSource, schema: unknown): ECDSASigValue {
    if (schema !== ECDSASigValue) throw notBundled();
    return parseEcdsaSignature(toBytes(data));
  },
};

const toBytes = (data: BufferSource) =>
  data instanceof Uint8Array
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** Strict DER: short-form lengths only (an ECDSA signature never needs more), nothing trailing. */
export function parseEcdsaSignature(der: Uint8Array): ECDSASigValue {
  let at = 0;
  const read = (tag: number): Uint8Array => {
    if (der[at] !== tag) throw new Error("signature is not a DER ECDSA-Sig-Value");
    const length = der[at + 1] ?? 0x80;
    if (length >= 0x80 || at + 2 + length > der.length) throw new Error("signature is not a DER ECDSA-Sig-Value");
    const value = der.subarray(at + 2, at + 2 + length);
    at += 2 + length;
    return value;
  };
  const sequence = read(0x30);
  if (at !== der.length) throw new Error("signature is not a DER ECDSA-Sig-Value");
  der = sequence;
  at = 0;
  const value = new ECDSASigValue();
  value.r = read(0x02).slice().buffer;
  value.s = read(0x02).slice().buffer;
  if (at !== der.length) throw new Error("signature is not a DER ECDSA-Sig-Value");
  return value;
}

class NotBundled {
  constructor() {
    throw notBundled();
  }
}

export {
  NotBundled as AuthorityKeyIdentifierExtension,
  NotBundled as BasicConstraints,
  NotBundled as Certificate,
  NotBundled as CRLDistributionPointsExtension,
  NotBundled as ECParameters,
  NotBundled as ExtendedKeyUsage,
  NotBundled as KeyDescription,
  NotBundled as OctetString,
  NotBundled as RSAPublicKey,
  NotBundled as SubjectAlternativeName,
  NotBundled as SubjectKeyIdentifierExtension,
  NotBundled as X509Certificate,
  NotBundled as X509ChainBuilder,
  NotBundled as X509Crl,
};

// Object identifiers the attestation verifiers compare against (never matched here).
export const id_ce_basicConstraints = "2.5.29.19";
export const id_ce_extKeyUsage = "2.5.29.37";
export const id_ce_subjectAltName = "2.5.29.17";
export const id_ce_keyDescription = "1.3.6.1.4.1.11129.2.1.17";
export const id_ecPublicKey = "1.2.840.10045.2.1";
export const id_secp256r1 = "1.2.840.10045.3.1.7";
export const id_secp384r1 = "1.3.132.0.34";
export const id_rsaEncryption = "1.2.840.113549.1.1.1";
