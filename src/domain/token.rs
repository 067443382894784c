//! Unguessable public tokens: 128 bits from the operating system's random
//! source, hex-encoded (URL-safe, 32 characters).

use rand::TryRng;
use rand::rngs::SysRng;

pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Does `text` look like a token hoss could have made (or imported)?
/// Used to refuse junk before touching the database.
pub fn is_plausible(text: &str) -> bool {
    (22..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_distinct_and_url_safe() {
        let a = super::new_token().unwrap();
        let b = super::new_token().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(super::is_plausible(&a));
        assert!(!super::is_plausible("../../etc/passwd"));
        assert!(!super::is_plausible("123"));
    }
}
