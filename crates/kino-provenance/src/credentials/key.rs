//! The C2PA signing key: an ES256 (P-256) private key and its X.509 certificate chain, kept as
//! two PEM files in a folder.
//!
//! | file | contents |
//! |---|---|
//! | `cert_chain.pem` | the signing (end-entity) certificate first, then its issuers |
//! | `private_key.pem` | the signing certificate's P-256 private key, PKCS#8 (mode 0600) |
//!
//! [`ProvenanceKey::init`] makes a local chain: a CA certificate (kept only in the chain file;
//! its private key is thrown away once it has signed) and an end-entity certificate valid for
//! 10 years with what C2PA asks of a signing certificate: X.509 v3, ECDSA P-256 with SHA-256,
//! `basicConstraints` CA:false, `keyUsage` digitalSignature (critical), `extendedKeyUsage`
//! emailProtection + documentSigning, subject and authority key identifiers.

use super::{CredentialsError, Result};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use x509_parser::certificate::X509Certificate;

/// The certificate chain's file name inside a key folder.
pub const CERT_CHAIN_FILE: &str = "cert_chain.pem";
/// The private key's file name inside a key folder.
pub const PRIVATE_KEY_FILE: &str = "private_key.pem";
/// The key folder's name inside kino's data directory.
pub const KEY_DIR: &str = "provenance";

/// Extended key usages a C2PA signing certificate may carry (besides emailProtection):
/// documentSigning, the C2PA signing OID and Microsoft's C2PA signing OID.
const C2PA_EKUS: [&str; 3] = [
    "1.3.6.1.5.5.7.3.36",
    "1.3.6.1.4.1.62558.2.1",
    "1.3.6.1.4.1.311.76.59.1.9",
];

/// A signing key and its certificate chain, checked to be usable for C2PA (ES256).
#[derive(Clone)]
pub struct ProvenanceKey {
    cert_chain_pem: String,
    private_key_pem: String,
    info: KeyInfo,
}

impl std::fmt::Debug for ProvenanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("ProvenanceKey")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// What a key's certificate chain says (for `kino keys provenance show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Subject of the signing certificate, e.g. "CN=kino clip signer, O=kino".
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// Validity, ISO 8601 UTC.
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the signing certificate (DER), hex.
    pub fingerprint_sha256: String,
    /// Subjects of every certificate in the chain, signing certificate first.
    pub chain: Vec<String>,
    /// The chain ends in a self-signed root that is on no public trust list (true for the chain
    /// `init` makes).
    pub self_signed_root: bool,
    /// Where the files are, when the key came from files.
    pub cert_chain_path: Option<PathBuf>,
    pub private_key_path: Option<PathBuf>,
}

impl ProvenanceKey {
    /// The key folder inside kino's data directory: `<data_dir>/provenance`.
    pub fn dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join(KEY_DIR)
    }

    /// Makes a new local self-signed chain and key in `dir` (created if needed). Fails, naming
    /// the file, if a key file is already there: a key is never overwritten.
    pub fn init(dir: &Path) -> Result<Self> {
        let (chain, key) = generate_chain()?;
        let checked = ProvenanceKey::from_pem(
            chain.as_bytes(),
            key.as_bytes(),
            &dir.join(CERT_CHAIN_FILE),
            &dir.join(PRIVATE_KEY_FILE),
        )?;
        checked.save_new(dir)
    }

    /// Copies an operator's chain and key into `dir` after checking them. Never overwrites.
    pub fn import(dir: &Path, cert_chain: &Path, private_key: &Path) -> Result<Self> {
        let key = ProvenanceKey::from_files(cert_chain, private_key)?;
        key.save_new(dir)
    }

    /// Loads the key kept in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(CredentialsError::key(
                dir,
                "no provenance key folder here (create one with `kino keys provenance init`)",
            ));
        }
        ProvenanceKey::from_files(&dir.join(CERT_CHAIN_FILE), &dir.join(PRIVATE_KEY_FILE))
    }

    /// Loads the key in `dir`, or makes one there if the folder holds neither file. The flag is
    /// true when a new key was made.
    pub fn load_or_init(dir: &Path) -> Result<(Self, bool)> {
        let chain = dir.join(CERT_CHAIN_FILE);
        let key = dir.join(PRIVATE_KEY_FILE);
        if !chain.exists() && !key.exists() {
            match ProvenanceKey::init(dir) {
                Ok(k) => return Ok((k, true)),
                // Another process made it between our look and our write: use theirs once
                // both files are there.
                Err(CredentialsError::Exists(_)) => {
                    for _ in 0..50 {
                        if let Ok(k) = ProvenanceKey::load(dir) {
                            return Ok((k, false));
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok((ProvenanceKey::load(dir)?, false))
    }

    /// Reads a chain and key from any two PEM files (an operator's own, e.g. from a CA on the
    /// C2PA trust list). The key may be PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub fn from_files(cert_chain: &Path, private_key: &Path) -> Result<Self> {
        let read = |p: &Path, what: &str| {
            std::fs::read(p).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    CredentialsError::key(p, format!("no {what} file here"))
                } else {
                    CredentialsError::io(p, e)
                }
            })
        };
        let chain = read(cert_chain, "certificate chain")?;
        let key = read(private_key, "private key")?;
        let mut k = ProvenanceKey::from_pem(&chain, &key, cert_chain, private_key)?;
        k.info.cert_chain_path = Some(cert_chain.to_path_buf());
        k.info.private_key_path = Some(private_key.to_path_buf());
        Ok(k)
    }

    /// Checks PEM text; `chain_name` and `key_name` label errors.
    pub fn from_pem(
        cert_chain: &[u8],
        private_key: &[u8],
        chain_name: &Path,
        key_name: &Path,
    ) -> Result<Self> {
        let certs = parse_chain(cert_chain, chain_name)?;
        let signing_key = parse_key(private_key, key_name)?;
        let parsed: Vec<X509Certificate<'_>> = certs
            .iter()
            .enumerate()
            .map(|(i, der)| {
                x509_parser::parse_x509_certificate(der)
                    .map(|(_, c)| c)
                    .map_err(|e| {
                        CredentialsError::key(
                            chain_name,
                            format!("certificate {} is not valid X.509: {e}", i + 1),
                        )
                    })
            })
            .collect::<Result<_>>()?;
        let ee = &parsed[0];
        check_signing_certificate(ee, &signing_key, chain_name, key_name)?;
        for (i, pair) in parsed.windows(2).enumerate() {
            if pair[0].issuer() != pair[1].subject() {
                return Err(CredentialsError::key(
                    chain_name,
                    format!(
                        "certificate {} ({}) was not issued by certificate {} ({}): list the \
                         signing certificate first, then each issuer in turn",
                        i + 1,
                        pair[0].subject(),
                        i + 2,
                        pair[1].subject()
                    ),
                ));
            }
        }
        let last = &parsed[parsed.len() - 1];
        let info = KeyInfo {
            subject: ee.subject().to_string(),
            issuer: ee.issuer().to_string(),
            not_before: iso8601(ee.validity().not_before.timestamp()),
            not_after: iso8601(ee.validity().not_after.timestamp()),
            fingerprint_sha256: hex(&Sha256::digest(&certs[0])),
            chain: parsed.iter().map(|c| c.subject().to_string()).collect(),
            self_signed_root: last.subject() == last.issuer(),
            cert_chain_path: None,
            private_key_path: None,
        };
        // c2pa wants PKCS#8; normalise SEC1 keys to it.
        let private_key_pem = signing_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| CredentialsError::key(key_name, format!("re-encoding the key: {e}")))?
            .to_string();
        let cert_chain_pem = certs
            .iter()
            .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
            .collect::<String>();
        Ok(ProvenanceKey {
            cert_chain_pem,
            private_key_pem,
            info,
        })
    }

    pub fn info(&self) -> &KeyInfo {
        &self.info
    }

    /// The certificate chain, PEM, signing certificate first.
    pub fn cert_chain_pem(&self) -> &str {
        &self.cert_chain_pem
    }

    /// A C2PA signer for this key (ES256, no time-stamp authority: kino works offline).
    pub(crate) fn signer(&self) -> Result<c2pa::BoxedSigner> {
        c2pa::create_signer::from_keys(
            self.cert_chain_pem.as_bytes(),
            self.private_key_pem.as_bytes(),
            c2pa::SigningAlg::Es256,
            None,
        )
        .map_err(CredentialsError::c2pa)
    }

    /// Writes both files into `dir`, refusing to replace either.
    fn save_new(mut self, dir: &Path) -> Result<Self> {
        let chain = dir.join(CERT_CHAIN_FILE);
        let key = dir.join(PRIVATE_KEY_FILE);
        for p in [&chain, &key] {
            if p.exists() {
                return Err(CredentialsError::Exists(p.clone()));
            }
        }
        create_private_dir(dir)?;
        write_new(&chain, self.cert_chain_pem.as_bytes(), 0o644)?;
        if let Err(e) = write_new(&key, self.private_key_pem.as_bytes(), 0o600) {
            // Leave no half-made key behind.
            let _ = std::fs::remove_file(&chain);
            return Err(e);
        }
        self.info.cert_chain_path = Some(chain);
        self.info.private_key_path = Some(key);
        Ok(self)
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| CredentialsError::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| CredentialsError::io(dir, e))?;
    }
    Ok(())
}

/// Creates `path` (failing if it exists) and writes `bytes` to it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CredentialsError::Exists(path.to_path_buf())
        } else {
            CredentialsError::io(path, e)
        }
    })?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| CredentialsError::io(path, e))
}

/// The DER certificates of a PEM chain.
fn parse_chain(text: &[u8], name: &Path) -> Result<Vec<Vec<u8>>> {
    let blocks = pem::parse_many(text)
        .map_err(|e| CredentialsError::key(name, format!("not a PEM certificate chain: {e}")))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err(CredentialsError::key(
            name,
            "no '-----BEGIN CERTIFICATE-----' block: expected the signing certificate, then its issuers, as PEM",
        ));
    }
    Ok(certs)
}

/// A P-256 private key from PKCS#8 or SEC1 PEM.
fn parse_key(text: &[u8], name: &Path) -> Result<SigningKey> {
    let block = pem::parse(text)
        .map_err(|e| CredentialsError::key(name, format!("not a PEM private key: {e}")))?;
    let not_p256 = |e: String| {
        CredentialsError::key(
            name,
            format!("not a P-256 private key (kino signs with ES256): {e}"),
        )
    };
    match block.tag() {
        "PRIVATE KEY" => {
            SigningKey::from_pkcs8_der(block.contents()).map_err(|e| not_p256(e.to_string()))
        }
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(block.contents())
            .map(SigningKey::from)
            .map_err(|e| not_p256(e.to_string())),
        "ENCRYPTED PRIVATE KEY" => Err(CredentialsError::key(
            name,
            "the private key is encrypted; kino needs it unencrypted (e.g. `openssl pkcs8 -topk8 -nocrypt`)",
        )),
        other => Err(CredentialsError::key(
            name,
            format!("found a '{other}' PEM block, expected 'PRIVATE KEY' (PKCS#8) or 'EC PRIVATE KEY'"),
        )),
    }
}

/// The checks c2pa applies to a signing certificate, up front, with errors that say what to fix.
fn check_signing_certificate(
    ee: &X509Certificate<'_>,
    key: &SigningKey,
    chain_name: &Path,
    key_name: &Path,
) -> Result<()> {
    let bad = |why: String| CredentialsError::key(chain_name, why);
    let point = key.verifying_key().to_encoded_point(false);
    let cert_key = VerifyingKey::from_sec1_bytes(&ee.public_key().subject_public_key.data);
    match cert_key {
        Ok(k) if k.to_encoded_point(false) == point => {}
        Ok(_) => {
            return Err(CredentialsError::key(
                key_name,
                format!(
                "this private key does not belong to the signing certificate (the first one in {})",
                chain_name.display()
            ),
            ))
        }
        Err(_) => {
            return Err(bad(
                "the signing certificate's key is not P-256 (kino signs with ES256)".into(),
            ))
        }
    }
    if ee.version() != x509_parser::x509::X509Version::V3 {
        return Err(bad("the signing certificate must be X.509 v3".into()));
    }
    if ee.tbs_certificate.is_ca() {
        return Err(bad(
            "the first certificate is a CA; C2PA signs with an end-entity certificate".into(),
        ));
    }
    if !ee.validity().is_valid() {
        return Err(bad(format!(
            "the signing certificate is not valid now (valid {} to {})",
            iso8601(ee.validity().not_before.timestamp()),
            iso8601(ee.validity().not_after.timestamp())
        )));
    }
    let ku = ee
        .key_usage()
        .map_err(|e| bad(format!("bad keyUsage extension: {e}")))?;
    if !ku.is_some_and(|k| k.value.digital_signature()) {
        return Err(bad(
            "the signing certificate needs keyUsage digitalSignature".into(),
        ));
    }
    let eku = ee
        .extended_key_usage()
        .map_err(|e| bad(format!("bad extendedKeyUsage extension: {e}")))?;
    let ok = eku.is_some_and(|e| {
        let e = e.value;
        !e.any
            && (e.email_protection
                || e.other
                    .iter()
                    .any(|o| C2PA_EKUS.contains(&o.to_id_string().as_str())))
    });
    if !ok {
        return Err(bad(
            "the signing certificate needs extendedKeyUsage emailProtection or documentSigning \
             (1.3.6.1.5.5.7.3.36), and not anyExtendedKeyUsage"
                .into(),
        ));
    }
    Ok(())
}

/// A P-256 key that rcgen can certify and sign with.
struct CertKey {
    key: SigningKey,
    point: Vec<u8>,
}

impl CertKey {
    fn random() -> Self {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let point = key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        CertKey { key, point }
    }

    /// RFC 7093 method 1: the first 160 bits of SHA-256 of the public key.
    fn key_id(&self) -> Vec<u8> {
        Sha256::digest(&self.point)[..20].to_vec()
    }
}

impl rcgen::PublicKeyData for CertKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CertKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        let sig: Signature = self.key.sign(msg);
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // and 16 bytes long
    SerialNumber::from_slice(&b)
}

/// Makes the local chain: returns (chain PEM, signing key PKCS#8 PEM).
fn generate_chain() -> Result<(String, String)> {
    let gen_err = |e: rcgen::Error| CredentialsError::C2pa(format!("making a certificate: {e}"));
    let today = days_since_epoch_now();
    let (y, m, d) = civil_from_days(today - 1);
    let not_before = rcgen::date_time_ymd(y, m, d);
    let years_on = |n: i32| rcgen::date_time_ymd(y + n, m, d.min(28));

    let ca_key = CertKey::random();
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kino local provenance CA");
    dn.push(DnType::OrganizationName, "kino");
    dn.push(
        DnType::OrganizationalUnitName,
        "local self-signed key, on no trust list",
    );
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.key_identifier_method = KeyIdMethod::PreSpecified(ca_key.key_id());
    ca.use_authority_key_identifier_extension = true;
    ca.serial_number = Some(random_serial());
    ca.not_before = not_before;
    ca.not_after = years_on(20);
    let ca_cert = ca.self_signed(&ca_key).map_err(gen_err)?;

    let ee_key = CertKey::random();
    let mut ee = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kino clip signer");
    dn.push(DnType::OrganizationName, "kino");
    dn.push(
        DnType::OrganizationalUnitName,
        "local self-signed key, on no trust list",
    );
    ee.distinguished_name = dn;
    ee.is_ca = IsCa::ExplicitNoCa;
    ee.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    ee.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::EmailProtection,
        // id-kp-documentSigning
        ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 36]),
    ];
    ee.key_identifier_method = KeyIdMethod::PreSpecified(ee_key.key_id());
    ee.use_authority_key_identifier_extension = true;
    ee.serial_number = Some(random_serial());
    ee.not_before = not_before;
    ee.not_after = years_on(10);
    let issuer = Issuer::new(ca, ca_key);
    let ee_cert = ee.signed_by(&ee_key, &issuer).map_err(gen_err)?;

    let chain = [ee_cert.der().as_ref(), ca_cert.der().as_ref()]
        .iter()
        .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())))
        .collect::<String>();
    let key = ee_key
        .key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| CredentialsError::C2pa(format!("encoding the key: {e}")))?
        .to_string();
    Ok((chain, key))
}

fn days_since_epoch_now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    secs.div_euclid(86_400)
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as i32, m as u8, d as u8)
}

/// `2035-01-31T12:00:00Z` from Unix seconds.
pub(crate) fn iso8601(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn generated_chain_passes_the_checks() {
        let (chain, key) = generate_chain().unwrap();
        let k = ProvenanceKey::from_pem(
            chain.as_bytes(),
            key.as_bytes(),
            Path::new("chain"),
            Path::new("key"),
        )
        .unwrap();
        assert_eq!(k.info().chain.len(), 2);
        assert!(k.info().self_signed_root);
        assert!(k.info().subject.contains("kino clip signer"));
        assert!(k.signer().is_ok());
        // The key of another chain does not match.
        let (_, other) = generate_chain().unwrap();
        let e = ProvenanceKey::from_pem(
            chain.as_bytes(),
            other.as_bytes(),
            Path::new("chain"),
            Path::new("key"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not belong"), "{e}");
    }
}
