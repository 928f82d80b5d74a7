//! Which shard a document lives on, computed exactly as OpenSearch does so that a document
//! lands on the same shard number here and there:
//! `floorMod(murmur3_x86_32(utf16le(routing), seed 0), routing_num_shards) / routing_factor`,
//! where `routing` is the request's `routing` (or the `_id`), `routing_factor =
//! routing_num_shards / number_of_shards`, and `routing_num_shards` defaults to the largest
//! `number_of_shards × 2^k ≤ 1024` (at least one split), like OpenSearch 2.x.

/// The routing parameters of one index (fixed at creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRouting {
    pub number_of_shards: u32,
    pub routing_num_shards: u32,
}

impl ShardRouting {
    /// The shard of a document whose routing value (`_routing` or `_id`) is `routing`.
    pub fn shard_for(&self, routing: &str) -> u32 {
        if self.number_of_shards <= 1 {
            return 0;
        }
        let hash = routing_hash(routing) as i64;
        let factor = (self.routing_num_shards / self.number_of_shards).max(1) as i64;
        (hash.rem_euclid(self.routing_num_shards as i64) / factor) as u32
    }
}

/// OpenSearch's default `index.number_of_routing_shards` for `number_of_shards` shards.
pub fn default_routing_num_shards(number_of_shards: u32) -> u32 {
    let n = number_of_shards.max(1);
    // ceil(log2(n)), as `32 - numberOfLeadingZeros(n - 1)` in OpenSearch.
    let log2_shards = 32 - (n - 1).leading_zeros();
    let splits = 10i64.saturating_sub(log2_shards as i64).max(1) as u32;
    n << splits
}

/// OpenSearch's `Murmur3HashFunction.hash(String)`: murmur3 x86 32-bit, seed 0, over the
/// string's UTF-16 code units in little-endian byte order.
pub fn routing_hash(routing: &str) -> i32 {
    let bytes: Vec<u8> = routing.encode_utf16().flat_map(|unit| unit.to_le_bytes()).collect();
    murmur3_x86_32(&bytes, 0) as i32
}

/// MurmurHash3, x86 32-bit variant.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |mut k: u32| {
        k = k.wrapping_mul(C1);
        k = k.rotate_left(15);
        k.wrapping_mul(C2)
    };
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        h ^= mix(u32::from_le_bytes([block[0], block[1], block[2], block[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= (*b as u32) << (8 * i);
        }
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_reference_vectors() {
        // Published test vectors of MurmurHash3_x86_32.
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0), 0x2e4f_f723);
    }

    #[test]
    fn default_routing_shards_like_opensearch() {
        assert_eq!(default_routing_num_shards(1), 1024);
        assert_eq!(default_routing_num_shards(2), 1024);
        assert_eq!(default_routing_num_shards(5), 640);
        assert_eq!(default_routing_num_shards(1024), 2048);
    }

    #[test]
    fn shards_cover_the_range() {
        let routing = ShardRouting { number_of_shards: 5, routing_num_shards: 640 };
        let mut seen = [0usize; 5];
        for i in 0..1000 {
            seen[routing.shard_for(&i.to_string()) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }
}
