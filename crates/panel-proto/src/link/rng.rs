//! Pad bytes for encrypted replies from a seed the caller supplies (splitmix64).
//!
//! DC-09 pads should be unpredictable to an observer, not cryptographically secret: the
//! pad only keeps identical replies from encrypting to identical ciphertext. A generator
//! seeded by the caller (with OS randomness in the daemon, a constant in tests) keeps the
//! link free of a `rand` dependency and of hidden entropy reads, and makes runs replayable.

/// A small deterministic generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Sixteen pad bytes (the encoder replaces any `|`, `[` or `]` among them).
    pub(crate) fn pad(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }
}
