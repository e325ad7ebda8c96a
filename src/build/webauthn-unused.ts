// Bundle-time stand-ins for the parts of @simplewebauthn/server this Worker never runs, wired by
// `[alias]` in wrangler.toml: the verifiers of attestation formats that carry certificates (TPM,
// Android, Apple, FIDO U2F), the FIDO metadata service and the root certificates they check
// against. Passkeys here ask for `attestation: "none"`, which browsers answer with the `none`
// format (or `packed` self-attestation, still verified by the library). A response in another
// format is refused, never accepted unchecked. Tests run the real modules; the browser suite runs
// this bundle.

const notBundled = (what: string) => async (): Promise<boolean> => {
  throw new Error(`${what} is not bundled in this Worker: passkeys ask for attestation "none" (src/build/webauthn-unused.ts)`);
};

export const verifyAttestationFIDOU2F = notBundled("fido-u2f attestation");
export const verifyAttestationAndroidSafetyNet = notBundled("android-safetynet attestation");
export const verifyAttestationAndroidKey = notBundled("android-key attestation");
export const verifyAttestationTPM = notBundled("tpm attestation");
export const verifyAttestationApple = notBundled("apple attestation");
export const verifyAttestationWithMetadata = notBundled("FIDO metadata");

/** No metadata statements: `packed` with a certificate then checks the path against no roots and fails. */
export const MetadataService = { getStatement: async () => undefined };

/** No root certificates: nothing certificate-based can verify. */
export const SettingsService = { getRootCertificates: (): string[] => [] };

// The certificate helpers of `packed` attestation with an `x5c` chain (full attestation).
const noCertificates = (): never => {
  throw new Error(
    'certificate attestation is not bundled in this Worker: passkeys ask for attestation "none" (src/build/webauthn-unused.ts)',
  );
};
export const getCertificateInfo = noCertificates;
export const validateCertificatePath = noCertificates;
export const validateExtFIDOGenCEAAGUID = noCertificates;
export const convertX509PublicKeyToCOSE = noCertificates;
