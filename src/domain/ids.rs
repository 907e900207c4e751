//! Identifiers in the shapes Zenduty uses, and secret tokens.

use rand::Rng;

/// Alphabet of Zenduty's incident ids (base57: no 0, 1, I, O, l).
const BASE57: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A 22-character base57 id, like `vuwtGfyHf9JaN5vg5sEc4N` (incidents, alerts, webhook-ids).
///
/// It is the base57 digits of a version 7 UUID, whose leading bits are the time it was made:
/// ids made one after another sort one after another, so the rows a storm inserts go to the
/// last leaf of their unique index together instead of to a random leaf each, which the write
/// would have to read back, journal and write out page by page (docs/decisions.md).
pub fn new_base57_id() -> String {
    let mut n = uuid::Uuid::now_v7().as_u128();
    // 57^22 > 2^128: 22 digits always suffice; leading zeros keep the order of the numbers.
    let mut digits = [BASE57[0]; 22];
    for digit in digits.iter_mut().rev() {
        *digit = BASE57[(n % 57) as usize];
        n /= 57;
    }
    digits.iter().map(|&b| b as char).collect()
}

/// A UUID for a row written on the event path (alerts, notifications): a version 7 UUID, in
/// the order made, as [`new_base57_id`].
pub fn new_row_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
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

    #[test]
    fn ids_sort_in_the_order_they_were_made() {
        assert!(
            BASE57.is_sorted(),
            "the alphabet's order is the digits' order"
        );
        let base57: Vec<String> = (0..200).map(|_| new_base57_id()).collect();
        assert!(base57.is_sorted());
        let uuids: Vec<String> = (0..200).map(|_| new_row_uuid()).collect();
        assert!(uuids.is_sorted());
        assert!(uuids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()));
    }
}
