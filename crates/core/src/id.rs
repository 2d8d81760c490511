//! ULID generation. Auth0 hook ids are 26-character Crockford base32 ULIDs that sort by
//! creation time; ours are monotonic within a process so that ids made in the same
//! millisecond still sort in creation order.

use rand::RngCore;
use std::sync::Mutex;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static LAST: Mutex<(u64, u128)> = Mutex::new((0, 0));

/// A new ULID: 48 bits of milliseconds, then 80 bits that are random, or the previous
/// value plus one when the millisecond has not changed.
pub fn new_ulid() -> String {
    let now = crate::now_ms().max(0) as u64 & ((1 << 48) - 1);
    let random = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        let next = if now <= last.0 {
            last.1.wrapping_add(1) & ((1u128 << 80) - 1)
        } else {
            let mut bytes = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut bytes[6..]);
            u128::from_be_bytes(bytes)
        };
        let ms = now.max(last.0);
        *last = (ms, next);
        (ms, next)
    };
    let value: u128 = (u128::from(random.0) << 80) | random.1;
    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 125 - 5 * i as i32;
        let idx = if shift >= 0 {
            (value >> shift) & 0x1f
        } else {
            (value << -shift) & 0x1f
        };
        *slot = CROCKFORD[idx as usize];
    }
    String::from_utf8(out.to_vec()).expect("crockford alphabet is ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_26_crockford_chars_and_sort_in_creation_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_ulid()).collect();
        for id in &ids {
            assert_eq!(id.len(), 26);
            assert!(id.bytes().all(|b| CROCKFORD.contains(&b)), "{id}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }
}
