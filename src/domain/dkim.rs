//! DKIM keys (SPEC §15): the PEM an operator has on disk — PKCS#1 RSA
//! (`BEGIN RSA PRIVATE KEY`), PKCS#8 RSA or Ed25519 (`BEGIN PRIVATE KEY`,
//! what `openssl genpkey` writes) — turned into what lettre signs with
//! (PKCS#1 PEM for RSA, the base64 of the 32-byte seed for Ed25519) and the
//! public half DNS must publish at `<selector>._domainkey.<domain>`.
//!
//! Pure: text in, key out (the file is read in `config`). Every refusal
//! says what the file holds, never its bytes, and a key lettre would panic
//! on (an RSA key too small to sign a SHA-256 digest) is refused here.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::dkim::{DkimSigningAlgorithm, DkimSigningKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding};
use rsa::pkcs8::{EncodePublicKey, ObjectIdentifier, PrivateKeyInfo};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

/// Below this, receivers treat an RSA signature as no signature (RFC 8301).
pub const MIN_RSA_BITS: usize = 1024;

const RSA_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    /// The `k=` tag of the DNS record.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// A usable signing key. Its `Debug` names the algorithm and size only.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimKey {
    algorithm: Algorithm,
    bits: usize,
    /// What `DkimSigningKey::new` takes: PKCS#1 PEM, or the base64 seed.
    signing: String,
    /// The `p=` value: base64 SubjectPublicKeyInfo (RSA) or the base64 of
    /// the raw 32-byte key (Ed25519, RFC 8463).
    public: String,
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DkimKey({}, {} bits)",
            self.algorithm.as_str(),
            self.bits
        )
    }
}

impl DkimKey {
    /// Reads a private key from PEM text. `Err` says what is wrong in
    /// words that follow the file's name.
    pub fn from_pem(text: &str) -> Result<DkimKey, String> {
        let pem = Pem::parse(text)?;
        let key = match pem.label.as_str() {
            "RSA PRIVATE KEY" => {
                let key = RsaPrivateKey::from_pkcs1_der(&pem.der)
                    .map_err(|_| "is not a readable PKCS#1 RSA private key".to_string())?;
                rsa_key(&key)?
            }
            "PRIVATE KEY" => pkcs8_key(&pem.der)?,
            "ENCRYPTED PRIVATE KEY" => return Err(encrypted()),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                return Err("holds a public key; DKIM signs with the private key".into());
            }
            other => {
                return Err(format!(
                    "holds a PEM {other:?}, not a private key (RSA or Ed25519)"
                ));
            }
        };
        // Whatever lettre would refuse is refused now, not at the first send.
        key.signing_key()?;
        Ok(key)
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The `p=` value DNS must publish.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The whole TXT value to publish at `<selector>._domainkey.<domain>`.
    pub fn txt_record(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.algorithm.as_str(), self.public)
    }

    /// The key lettre signs with.
    pub fn signing_key(&self) -> Result<DkimSigningKey, String> {
        let algorithm = match self.algorithm {
            Algorithm::Rsa => DkimSigningAlgorithm::Rsa,
            Algorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
        };
        DkimSigningKey::new(&self.signing, algorithm)
            .map_err(|e| format!("is refused by the DKIM signer ({e})"))
    }

    /// Whether a DKIM TXT record publishes this key's public half; `Err`
    /// says how it differs.
    pub fn matches_record(&self, record: &str) -> Result<(), String> {
        let tags = DkimRecord::parse(record);
        let published = tags.p.ok_or("the record has no p= tag")?;
        if published.is_empty() {
            return Err("p= is empty: the key is revoked".into());
        }
        let k = tags.k.unwrap_or_else(|| "rsa".into());
        if !k.eq_ignore_ascii_case(self.algorithm.as_str()) {
            return Err(format!(
                "the record is k={k} but DKIM_PRIVATE_KEY_FILE is an {} key",
                self.algorithm.as_str()
            ));
        }
        if published != self.public {
            return Err(format!(
                "the published key ({}) is not the public half of DKIM_PRIVATE_KEY_FILE (expected {})",
                abbreviate(&published),
                abbreviate(&self.public)
            ));
        }
        Ok(())
    }
}

/// The tags of a DKIM key record that matter here (RFC 6376 §3.6.1).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DkimRecord {
    /// `p=`, whitespace removed; empty means revoked.
    pub p: Option<String>,
    pub k: Option<String>,
}

impl DkimRecord {
    pub fn parse(record: &str) -> DkimRecord {
        let mut out = DkimRecord::default();
        for tag in record.split(';') {
            let Some((name, value)) = tag.split_once('=') else {
                continue;
            };
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            match name.trim() {
                "p" => out.p = Some(value),
                "k" => out.k = Some(value),
                _ => {}
            }
        }
        out
    }
}

/// A public key shown as evidence: its start and end.
fn abbreviate(b64: &str) -> String {
    let n = b64.chars().count();
    if n <= 24 {
        return b64.to_string();
    }
    let head: String = b64.chars().take(12).collect();
    let tail: String = b64.chars().skip(n - 8).collect();
    format!("{head}…{tail}")
}

fn encrypted() -> String {
    "is encrypted; hoss cannot ask for a passphrase (write it out unencrypted: openssl pkey -in encrypted.pem -out dkim.pem)".into()
}

fn rsa_key(key: &RsaPrivateKey) -> Result<DkimKey, String> {
    let bits = key.size() * 8;
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "is a {bits}-bit RSA key; DKIM needs at least {MIN_RSA_BITS} bits (2048 recommended)"
        ));
    }
    let signing = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|_| "is an RSA key that cannot be re-encoded".to_string())?;
    let public = RsaPublicKey::from(key)
        .to_public_key_der()
        .map_err(|_| "is an RSA key whose public half cannot be encoded".to_string())?;
    Ok(DkimKey {
        algorithm: Algorithm::Rsa,
        bits,
        signing: signing.to_string(),
        public: STANDARD.encode(public.as_bytes()),
    })
}

fn pkcs8_key(der: &[u8]) -> Result<DkimKey, String> {
    let info = PrivateKeyInfo::try_from(der)
        .map_err(|_| "is not a readable PKCS#8 private key".to_string())?;
    match info.algorithm.oid {
        RSA_OID => {
            let key = RsaPrivateKey::try_from(info)
                .map_err(|_| "is not a readable PKCS#8 RSA private key".to_string())?;
            rsa_key(&key)
        }
        ED25519_OID => {
            // The private key is itself an OCTET STRING of the 32-byte seed
            // (RFC 8410 §7): 04 20 <seed>.
            let seed: [u8; 32] = match info.private_key {
                [0x04, 0x20, seed @ ..] => seed.try_into().ok(),
                _ => None,
            }
            .ok_or("is not a readable Ed25519 private key")?;
            let public = ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes();
            Ok(DkimKey {
                algorithm: Algorithm::Ed25519,
                bits: 256,
                signing: STANDARD.encode(seed),
                public: STANDARD.encode(public),
            })
        }
        oid => Err(format!(
            "holds a key of algorithm {oid}; DKIM signs with RSA or Ed25519"
        )),
    }
}

/// One PEM block: its label and its decoded bytes.
struct Pem {
    label: String,
    der: Vec<u8>,
}

impl Pem {
    fn parse(text: &str) -> Result<Pem, String> {
        let mut lines = text.lines().map(str::trim);
        let label = lines
            .by_ref()
            .find_map(|l| {
                l.strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
            })
            .ok_or("is not a PEM file (no -----BEGIN line)")?
            .to_string();
        // A label is a few words (RFC 7468); anything else is the key run
        // into its BEGIN line, and must not be quoted back.
        if label.len() > 40
            || !label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ')
        {
            return Err(
                "is not a PEM file (the -----BEGIN line must stand alone: are its line breaks lost?)"
                    .into(),
            );
        }
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut ended = false;
        for line in lines {
            if line == end {
                ended = true;
                break;
            }
            // RFC 1421 headers: only legacy encrypted PKCS#1 has them.
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED") {
                    return Err(encrypted());
                }
                continue;
            }
            body.push_str(line);
        }
        if !ended {
            return Err(format!("is not a PEM file (no {end} line)"));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("is not a PEM file (the {label} block is not base64)"))?;
        Ok(Pem { label, der })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PKCS8: &str = include_str!("../../tests/fixtures/dkim/rsa2048.pkcs8.pem");
    const RSA_PKCS1: &str = include_str!("../../tests/fixtures/dkim/rsa2048.pkcs1.pem");
    const ED25519: &str = include_str!("../../tests/fixtures/dkim/ed25519.pkcs8.pem");
    const RSA_512: &str = include_str!("../../tests/fixtures/dkim/rsa512.pkcs1.pem");
    const RSA_PKCS8_PUBLIC: &str = include_str!("../../tests/fixtures/dkim/rsa2048.pkcs8.pub");
    const ED25519_PUBLIC: &str = include_str!("../../tests/fixtures/dkim/ed25519.pkcs8.pub");

    /// The base64 body of a PEM file (what DNS publishes for RSA).
    fn pem_body(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn dkim_keys_in_every_form_operators_have_are_read() {
        for (pem, algorithm, bits) in [
            (RSA_PKCS8, Algorithm::Rsa, 2048),
            (RSA_PKCS1, Algorithm::Rsa, 2048),
            (ED25519, Algorithm::Ed25519, 256),
        ] {
            let key = DkimKey::from_pem(pem).unwrap();
            assert_eq!((key.algorithm(), key.bits()), (algorithm, bits));
            assert!(key.signing_key().is_ok());
            assert!(key.matches_record(&key.txt_record()).is_ok());
        }
        // The public halves are what openssl says they are.
        let rsa = DkimKey::from_pem(RSA_PKCS8).unwrap();
        assert_eq!(rsa.public_key(), pem_body(RSA_PKCS8_PUBLIC));
        // Ed25519: the last 32 bytes of the SubjectPublicKeyInfo.
        let spki = STANDARD.decode(pem_body(ED25519_PUBLIC)).unwrap();
        let ed = DkimKey::from_pem(ED25519).unwrap();
        assert_eq!(ed.public_key(), STANDARD.encode(&spki[spki.len() - 32..]));
        // CRLF line ends and surrounding text are fine.
        assert_eq!(
            DkimKey::from_pem(&format!("key:\r\n{}\r\n", ED25519.replace('\n', "\r\n"))).unwrap(),
            ed
        );
    }

    #[test]
    fn dkim_keys_that_cannot_sign_are_refused_with_a_reason_and_no_key_bytes() {
        let truncated: String = RSA_PKCS8.lines().take(5).collect::<Vec<_>>().join("\n")
            + "\n-----END PRIVATE KEY-----\n";
        let encrypted_pkcs1 = RSA_PKCS1.replacen(
            "-----\n",
            "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
            1,
        );
        for (text, reason) in [
            ("", "not a PEM file"),
            ("hello\n", "not a PEM file"),
            (RSA_512, "512-bit RSA key; DKIM needs at least 1024 bits"),
            (RSA_PKCS8_PUBLIC, "holds a public key"),
            (&truncated, "not a readable PKCS#8 private key"),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "is encrypted",
            ),
            (&encrypted_pkcs1, "is encrypted"),
            (
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                "holds a PEM \"CERTIFICATE\"",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
                "not base64",
            ),
            (
                &RSA_PKCS8.replace("-----END PRIVATE KEY-----", ""),
                "no -----END",
            ),
            (
                &RSA_PKCS1.replace("RSA PRIVATE KEY", "PRIVATE KEY"),
                "not a readable PKCS#8",
            ),
        ] {
            let err = DkimKey::from_pem(text).unwrap_err();
            assert!(err.contains(reason), "{reason}: {err}");
            for line in [RSA_PKCS8, RSA_PKCS1, RSA_512] {
                assert!(!err.contains(line.lines().nth(2).unwrap()), "{err}");
            }
        }
        // A P-256 key is a key, but not one DKIM signs with.
        let p256 = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgO86BTes9+Z2jUxjd
Knd1Vq/XdFA5OPmD9e0hEvS8zhahRANCAAS1/PGg6LtiuH62P+qRmR6YnoA3es44
K6qOcqUqVO0mtBwaCM8qfV0uAZwupD+cb793OJg2DGuvBpDB4taHcaqW
-----END PRIVATE KEY-----
";
        let err = DkimKey::from_pem(p256).unwrap_err();
        assert!(err.contains("RSA or Ed25519"), "{err}");
    }

    #[test]
    fn a_key_pasted_on_one_line_is_refused_without_its_bytes() {
        // Secret stores and web forms often turn a PEM's line breaks into
        // spaces, or drop them: the BEGIN line then runs into the key.
        let body = pem_body(RSA_PKCS8);
        for text in [
            RSA_PKCS8.replace('\n', " "),
            RSA_PKCS8.replace('\n', ""),
            format!("-----BEGIN {body}-----\n-----END {body}-----\n"),
        ] {
            let err = DkimKey::from_pem(&text).unwrap_err();
            assert!(err.contains("not a PEM file"), "{err}");
            for chunk in body.as_bytes().chunks(16) {
                let chunk = std::str::from_utf8(chunk).unwrap();
                assert!(!err.contains(chunk), "{err}");
            }
        }
    }

    #[test]
    fn dkim_debug_never_shows_the_key() {
        let key = DkimKey::from_pem(RSA_PKCS1).unwrap();
        assert_eq!(format!("{key:?}"), "DkimKey(rsa, 2048 bits)");
    }

    #[test]
    fn dkim_records_are_compared_with_the_key() {
        let rsa = DkimKey::from_pem(RSA_PKCS8).unwrap();
        let ed = DkimKey::from_pem(ED25519).unwrap();
        // Folded across chunks with spaces, tags in any order.
        let p = rsa.public_key();
        let spaced = format!("v=DKIM1; p={} {} ;k=rsa", &p[..100], &p[100..]);
        assert!(rsa.matches_record(&spaced).is_ok());
        assert!(rsa.matches_record(&format!("v=DKIM1; p={p}")).is_ok());
        let other = DkimKey::from_pem(RSA_PKCS1).unwrap();
        let err = rsa.matches_record(&other.txt_record()).unwrap_err();
        assert!(err.contains("not the public half"), "{err}");
        let err = ed
            .matches_record(&format!("v=DKIM1; p={}", ed.public_key()))
            .unwrap_err();
        assert!(err.contains("k=rsa"), "{err}");
        assert!(
            rsa.matches_record("v=DKIM1; k=rsa; p=")
                .unwrap_err()
                .contains("revoked")
        );
        assert!(
            rsa.matches_record("v=DKIM1; k=rsa")
                .unwrap_err()
                .contains("no p=")
        );
    }
}
