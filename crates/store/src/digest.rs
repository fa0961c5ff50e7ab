//! The order-independent digest of an origin's live set (DESIGN §3 checkpoints). Updated
//! incrementally on every apply, so proving convergence costs nothing at checkpoint time.

use prospectus_model::Uuid;
use sha2::{Digest, Sha256};

/// Lane-wise wrapping sum of per-record hashes: adding and removing commute, so any order of
/// applying the same entries gives the same digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetDigest([u64; 4]);

/// The hash one live record contributes: binds its kind, id and exact signed entry bytes.
pub fn record_hash(kind: u8, id: Uuid, entry_bytes: &[u8]) -> [u64; 4] {
    let inner = Sha256::digest(entry_bytes);
    let mut h = Sha256::new();
    h.update([kind]);
    h.update(id.as_bytes());
    h.update(inner);
    let out = h.finalize();
    let mut lanes = [0u64; 4];
    for (i, lane) in lanes.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&out[i * 8..i * 8 + 8]);
        *lane = u64::from_le_bytes(b);
    }
    lanes
}

impl SetDigest {
    pub fn add(&mut self, h: [u64; 4]) {
        for (a, b) in self.0.iter_mut().zip(h) {
            *a = a.wrapping_add(b);
        }
    }

    pub fn remove(&mut self, h: [u64; 4]) {
        for (a, b) in self.0.iter_mut().zip(h) {
            *a = a.wrapping_sub(b);
        }
    }

    pub fn to_bytes(self) -> Vec<u8> {
        self.0.iter().flat_map(|l| l.to_le_bytes()).collect()
    }

    pub fn from_bytes(b: &[u8]) -> Self {
        let mut lanes = [0u64; 4];
        if b.len() == 32 {
            for (i, lane) in lanes.iter_mut().enumerate() {
                let mut x = [0u8; 8];
                x.copy_from_slice(&b[i * 8..i * 8 + 8]);
                *lane = u64::from_le_bytes(x);
            }
        }
        SetDigest(lanes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter_and_remove_undoes_add() {
        let a = record_hash(3, Uuid::from_u128(1), b"a");
        let b = record_hash(3, Uuid::from_u128(2), b"b");
        let mut x = SetDigest::default();
        x.add(a);
        x.add(b);
        let mut y = SetDigest::default();
        y.add(b);
        y.add(a);
        assert_eq!(x, y);
        y.remove(b);
        let mut z = SetDigest::default();
        z.add(a);
        assert_eq!(y, z);
        assert_ne!(x, z);
        assert_eq!(SetDigest::from_bytes(&x.to_bytes()), x);
    }
}
