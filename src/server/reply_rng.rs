//! Random numbers for generated service reply subjects: ChaCha20 keystream, one
//! generator per thread (so per worker), keyed once from the OS (`getrandom`). No system
//! call and no allocation per number; the output cannot be predicted from earlier output.
use std::cell::RefCell;

/// The next random u64 of this thread's generator.
pub fn next_u64() -> u64 {
    thread_local! {
        static RNG: RefCell<ChaCha> = RefCell::new(ChaCha::from_os());
    }
    RNG.with(|r| r.borrow_mut().next_u64())
}

struct ChaCha {
    key: [u32; 8],
    /// Block counter (words 12, 13 of the state; the nonce words stay zero: one key
    /// never repeats a counter within 2^64 blocks).
    counter: u64,
    block: [u32; 16],
    /// Next unused pair of words in `block` (8 = used up).
    pos: usize,
}

impl ChaCha {
    fn from_os() -> ChaCha {
        let mut seed = [0u8; 32];
        if getrandom::fill(&mut seed).is_err() {
            // No OS randomness (never seen on Linux): a per-process random hasher and
            // the clock are the best left.
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            for (i, chunk) in seed.chunks_mut(8).enumerate() {
                let h = ahash::RandomState::new().hash_one((t, i, std::thread::current().id()));
                chunk.copy_from_slice(&h.to_le_bytes());
            }
        }
        let mut key = [0u32; 8];
        for (k, c) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        ChaCha { key, counter: 0, block: [0; 16], pos: 8 }
    }

    fn next_u64(&mut self) -> u64 {
        if self.pos >= 8 {
            self.block = block(&self.key, self.counter, [0, 0]);
            self.counter = self.counter.wrapping_add(1);
            self.pos = 0;
        }
        let i = self.pos * 2;
        self.pos += 1;
        u64::from(self.block[i]) | (u64::from(self.block[i + 1]) << 32)
    }
}

#[inline(always)]
fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// One ChaCha20 block (RFC 8439 §2.3) with a 64-bit counter in words 12–13 and a
/// 64-bit nonce in words 14–15.
fn block(key: &[u32; 8], counter: u64, nonce: [u32; 2]) -> [u32; 16] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    init[4..12].copy_from_slice(key);
    init[12] = counter as u32;
    init[13] = (counter >> 32) as u32;
    init[14..].copy_from_slice(&nonce);
    let mut s = init;
    for _ in 0..10 {
        quarter(&mut s, 0, 4, 8, 12);
        quarter(&mut s, 1, 5, 9, 13);
        quarter(&mut s, 2, 6, 10, 14);
        quarter(&mut s, 3, 7, 11, 15);
        quarter(&mut s, 0, 5, 10, 15);
        quarter(&mut s, 1, 6, 11, 12);
        quarter(&mut s, 2, 7, 8, 13);
        quarter(&mut s, 3, 4, 9, 14);
    }
    for (w, i) in s.iter_mut().zip(init) {
        *w = w.wrapping_add(i);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 §2.3.2: key 00..1f, counter 1, nonce 00000009 0000004a 00000000. Its
    /// 32-bit counter and 96-bit nonce map onto our words 12–15 as counter
    /// 0x09_0000_0001 (word 13 = 0x09000000) and nonce [0x4a000000, 0].
    #[test]
    fn chacha20_block_matches_rfc8439() {
        let mut key = [0u32; 8];
        for (i, k) in key.iter_mut().enumerate() {
            let b = (i * 4) as u8;
            *k = u32::from_le_bytes([b, b + 1, b + 2, b + 3]);
        }
        let out = block(&key, 1 | (0x0900_0000u64 << 32), [0x4a00_0000, 0]);
        assert_eq!(&out[..4], &[0xe4e7_f110, 0x1559_3bd1, 0x1fdd_0f50, 0xc471_20a3]);
        assert_eq!(out[15], 0x4e3c_50a2);
    }

    #[test]
    fn threads_draw_different_streams() {
        let here: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        let there = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect::<Vec<u64>>()).join().expect("thread");
        assert_ne!(here, there);
        assert!(here.windows(2).all(|w| w[0] != w[1]));
    }
}
