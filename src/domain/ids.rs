//! Random identifiers in the shapes Zenduty uses.

use rand::Rng;

/// Alphabet of Zenduty's incident ids (base57: no 0, 1, I, O, l).
const BASE57: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A 22-character base57 id, like `vuwtGfyHf9JaN5vg5sEc4N` (incidents, alerts, webhook-ids).
pub fn new_base57_id() -> String {
    let mut rng = rand::rng();
    (0..22)
        .map(|_| BASE57[rng.random_range(0..BASE57.len())] as char)
        .collect()
}

/// A user's public id: 25 characters, like Zenduty's truncated UUIDs.
pub fn new_username() -> String {
    let mut id = uuid::Uuid::new_v4().to_string();
    id.truncate(25);
    id
}

/// A secret token as it travels: 32 random bytes, URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// What is stored of a secret token (API keys, sessions): its SHA-256, in hex.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Random bytes from the operating system's generator, for keys and tokens.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_base57_characters() {
        let id = new_base57_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| BASE57.contains(&b)));
        assert_ne!(id, new_base57_id());
        assert_eq!(BASE57.len(), 57);
    }
}
