//! Random identifiers in the shapes Zenduty uses.

use rand::Rng;

/// A user's public id: 25 characters, like Zenduty's truncated UUIDs.
pub fn new_username() -> String {
    let mut id = uuid::Uuid::new_v4().to_string();
    id.truncate(25);
    id
}

/// Random bytes from the operating system's generator, for keys and tokens.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill(&mut bytes[..]);
    bytes
}
