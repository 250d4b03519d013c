//! Random numbers for generated service reply subjects: a ChaCha20 generator
//! (`rand_chacha`) per thread, so per worker, keyed once from the OS. No system call and
//! no allocation per number; earlier output does not tell the next one.
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::cell::RefCell;

/// The next random u64 of this thread's generator.
pub fn next_u64() -> u64 {
    thread_local! {
        static RNG: RefCell<ChaCha20Rng> = RefCell::new(ChaCha20Rng::from_seed(os_seed()));
    }
    RNG.with(|r| r.borrow_mut().next_u64())
}

fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        // No OS randomness (not seen on Linux): the clock mixed through per-process
        // random hashers is the best left.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        for (i, chunk) in seed.chunks_mut(8).enumerate() {
            let h = ahash::RandomState::new().hash_one((t, i, std::thread::current().id()));
            chunk.copy_from_slice(&h.to_le_bytes());
        }
    }
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_draw_different_streams() {
        let here: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        let there = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect::<Vec<u64>>()).join().expect("thread");
        assert_ne!(here, there);
        assert!(here.windows(2).all(|w| w[0] != w[1]));
    }
}
