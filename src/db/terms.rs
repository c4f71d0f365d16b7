//! The search index of the log store: each block's `terms` column is a Bloom filter of its
//! lines' words, built here when the block is prepared (off the store's writer), and tested
//! inside SQLite by the function `log_terms_match`, which every connection registers
//! ([`register`]). Nothing here holds state or needs shutting down.
//!
//! A word is a run of letters and digits (as `Search` cuts a search box), lower-cased.
//! Each word goes in whole, and, when it is longer than [`PREFIX`] characters, its first
//! [`PREFIX`] characters go in too, tagged apart, so a prefix search (`retr*`) has a term
//! to test. The filter answers "maybe" or "no"; a "maybe" block is read and each line is
//! checked in full, so a false positive costs time, never a wrong answer.
//!
//! The format is stored on disk: `hash_bytes`, the probe positions and the sizing rule
//! must never change without a migration that rebuilds every block's filter.

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;

/// Characters of a word that its prefix term keeps.
pub const PREFIX: usize = 3;
/// Bits set per term.
const PROBES: u64 = 4;
/// Filter bits per distinct term (with 4 probes about 1.2% false positives).
const BITS_PER_TERM: usize = 10;
const MIN_BITS: usize = 256;
/// A block of 64 lines of 16 KiB each can hold more distinct words than this; its filter is
/// then fuller (more false positives), never wrong.
const MAX_BITS: usize = 1 << 21;

const TAG_WORD: u64 = 0;
const TAG_PREFIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Eight bytes at a time (little-endian words, the last one zero-padded, the length mixed
/// in first), then MurmurHash3's fmix64 so every bit of the result depends on every byte.
/// A multiply per eight bytes instead of FNV's per byte: hashing every word of every line
/// was the biggest part of preparing a block. Stable by construction: it is part of the
/// stored format (migration 000008 dropped the filters of the FNV hash before it).
fn hash_bytes(tag: u64, bytes: &[u8], lower: bool) -> u64 {
    // On ASCII letters and digits, setting 0x20 is `to_ascii_lowercase`.
    const LOWER: u64 = 0x2020_2020_2020_2020;
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ tag ^ (bytes.len() as u64).wrapping_mul(K2);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_le_bytes(w) | if lower { LOWER } else { 0 };
        h = (h ^ v).wrapping_mul(K1).rotate_left(31);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Shifted in byte by byte: a copy into a zeroed array and a load of all eight
        // stalled on store forwarding, and most words are shorter than eight bytes.
        let v = rest
            .iter()
            .rev()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b));
        let mask = u64::MAX >> (64 - 8 * rest.len());
        let v = v | if lower { LOWER & mask } else { 0 };
        h = (h ^ v).wrapping_mul(K1).rotate_left(31);
    }
    fmix(h)
}

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;

fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of a whole word (already lower-cased).
pub fn word_hash(word: &str) -> u64 {
    hash_bytes(TAG_WORD, word.as_bytes(), false)
}

/// The hash of a prefix term: the first [`PREFIX`] characters of a lower-cased word.
pub fn prefix_hash(word: &str) -> u64 {
    hash_bytes(TAG_PREFIX, cut_chars(word, PREFIX).as_bytes(), false)
}

fn cut_chars(w: &str, n: usize) -> &str {
    w.char_indices().nth(n).map_or(w, |(i, _)| &w[..i])
}

/// Collects the terms of a block's lines and builds its filter.
pub struct TermsBuilder {
    /// Open-addressing set of the term hashes seen (0 = empty), so the filter is sized by
    /// distinct terms: a block repeats most of its words from line to line.
    table: Vec<u64>,
    len: usize,
    lower: String,
}

impl Default for TermsBuilder {
    fn default() -> Self {
        TermsBuilder {
            table: vec![0; 1024],
            len: 0,
            lower: String::new(),
        }
    }
}

impl TermsBuilder {
    fn insert(&mut self, h: u64) {
        let h = h.max(1);
        if (self.len + 1) * 2 > self.table.len() {
            let grown = vec![0; self.table.len() * 2];
            let old = std::mem::replace(&mut self.table, grown);
            self.len = 0;
            for v in old.into_iter().filter(|&v| v != 0) {
                self.insert(v);
            }
        }
        let mask = self.table.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            match self.table[i] {
                0 => {
                    self.table[i] = h;
                    self.len += 1;
                    return;
                }
                v if v == h => return,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds one message's words.
    pub fn add(&mut self, message: &str) {
        if message.is_ascii() {
            // ASCII: hash each run of letters and digits lower-cased on the fly, no copy.
            let b = message.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if !b[i].is_ascii_alphanumeric() {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                let word = &b[start..i];
                self.insert(hash_bytes(TAG_WORD, word, true));
                if word.len() > PREFIX {
                    self.insert(hash_bytes(TAG_PREFIX, &word[..PREFIX], true));
                }
            }
        } else {
            for w in message.split(|c: char| !c.is_alphanumeric()) {
                if w.is_empty() {
                    continue;
                }
                let mut lower = std::mem::take(&mut self.lower);
                lower.clear();
                lower.extend(w.chars().flat_map(char::to_lowercase));
                self.insert(word_hash(&lower));
                if lower.chars().nth(PREFIX).is_some() {
                    self.insert(prefix_hash(&lower));
                }
                self.lower = lower;
            }
        }
    }

    /// The filter of every term added since the last call; the builder is empty again.
    pub fn finish(&mut self) -> Vec<u8> {
        let bits = (self.len * BITS_PER_TERM)
            .next_power_of_two()
            .clamp(MIN_BITS, MAX_BITS);
        let mut filter = vec![0u8; bits / 8];
        for h in self.table.iter_mut() {
            if *h != 0 {
                set(&mut filter, *h);
                *h = 0;
            }
        }
        self.len = 0;
        filter
    }
}

/// The filter of some messages (for a block rewritten by retention).
pub fn filter_of<'a>(messages: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut b = TermsBuilder::default();
    messages.for_each(|m| b.add(m));
    b.finish()
}

fn positions(h: u64, bits: usize) -> impl Iterator<Item = usize> {
    let (h1, h2) = (h, (h >> 32) | 1);
    let mask = bits as u64 - 1;
    (0..PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) & mask) as usize)
}

fn set(filter: &mut [u8], h: u64) {
    let bits = filter.len() * 8;
    for p in positions(h, bits) {
        filter[p / 8] |= 1 << (p % 8);
    }
}

/// Whether the filter may hold the term.
pub fn may_hold(filter: &[u8], h: u64) -> bool {
    let bits = filter.len() * 8;
    if !bits.is_power_of_two() {
        // Not a filter this build writes: it cannot rule anything out.
        return true;
    }
    positions(h, bits).all(|p| filter[p / 8] & (1 << (p % 8)) != 0)
}

/// A search's test for blocks: every group must have one term the filter may hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    groups: Vec<Vec<u64>>,
}

impl Probe {
    /// A block must hold one of these terms.
    pub fn any_of(&mut self, hashes: Vec<u64>) {
        if !hashes.is_empty() {
            self.groups.push(hashes);
        }
    }

    /// Rules nothing out (no term was long enough to test).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The bytes `log_terms_match` takes: per group, its length then its hashes (LE).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for g in &self.groups {
            out.extend_from_slice(&(g.len() as u32).to_le_bytes());
            for h in g {
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
        out
    }

    /// Whether a filter may hold a match.
    pub fn test(&self, filter: &[u8]) -> bool {
        self.groups
            .iter()
            .all(|g| g.iter().any(|&h| may_hold(filter, h)))
    }
}

/// `log_terms_match(terms, probe)`: [`Probe::test`] on an encoded probe; a block without a
/// filter (NULL) or a probe it cannot read always matches.
fn matches_encoded(filter: Option<&[u8]>, mut probe: &[u8]) -> bool {
    let Some(filter) = filter else { return true };
    while probe.len() >= 4 {
        let n = u32::from_le_bytes([probe[0], probe[1], probe[2], probe[3]]) as usize;
        probe = &probe[4..];
        let Some(group) = probe.get(..n * 8) else {
            return true;
        };
        probe = &probe[n * 8..];
        let any = group.chunks_exact(8).any(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            may_hold(filter, u64::from_le_bytes(b))
        });
        if !any {
            return false;
        }
    }
    true
}

diesel::define_sql_function! {
    /// Whether a block's `terms` filter may hold every group of an encoded [`Probe`].
    fn log_terms_match(terms: diesel::sql_types::Nullable<diesel::sql_types::Binary>, probe: diesel::sql_types::Binary) -> diesel::sql_types::Bool;
}

/// Registers `log_terms_match` on a connection (every connection of the store needs it).
pub fn register(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    // Deterministic: SQLite may evaluate it once per row of an index it scans.
    // Borrowed blobs: the test runs once per block a search scans, and copying each filter
    // and the probe into a Vec was most of its cost.
    log_terms_match_utils::register_impl(
        conn,
        |terms: Option<*const [u8]>, probe: *const [u8]| {
            // SAFETY: diesel hands out pointers to SQLite's argument values, valid for the
            // duration of this call; nothing keeps them.
            let (terms, probe) = unsafe { (terms.map(|t| &*t), &*probe) };
            matches_encoded(terms, probe)
        },
    )?;
    // Proves the registration from SQL's side at once rather than at the first search.
    conn.batch_execute("SELECT log_terms_match(NULL, x'')")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_words(words: &[&str]) -> Probe {
        let mut p = Probe::default();
        for w in words {
            p.any_of(vec![word_hash(w)]);
        }
        p
    }

    #[test]
    fn a_filter_holds_its_words_and_prefixes_and_rarely_others() {
        let mut b = TermsBuilder::default();
        b.add("ERROR db: Connection reset request_id=492117 Überprüfung");
        let f = b.finish();
        assert_eq!(f.len() * 8, MIN_BITS);
        for w in [
            "error",
            "db",
            "connection",
            "reset",
            "request",
            "id",
            "492117",
            "überprüfung",
        ] {
            assert!(may_hold(&f, word_hash(w)), "{w}");
        }
        assert!(may_hold(&f, prefix_hash("con")));
        assert!(may_hold(&f, prefix_hash("492")));
        assert!(may_hold(&f, prefix_hash("übe")));
        // Some false positives are allowed; many are not.
        let misses = (0..1000)
            .filter(|i| may_hold(&f, word_hash(&format!("absent{i}"))))
            .count();
        assert!(misses < 50, "{misses} false positives of 1000");
        let p = probe_words(&["connection", "492117"]);
        assert!(p.test(&f) && matches_encoded(Some(&f), &p.encode()));
        let q = probe_words(&["connection", "nowhere"]);
        assert!(!q.test(&f) && !matches_encoded(Some(&f), &q.encode()));
        assert!(matches_encoded(None, &q.encode()), "no filter: a candidate");
        assert!(
            matches_encoded(Some(&f), &[]),
            "an empty probe rules nothing out"
        );
    }

    #[test]
    fn filters_grow_with_distinct_terms_and_the_builder_resets() {
        let mut b = TermsBuilder::default();
        for i in 0..5000 {
            b.add(&format!("word{i} same same"));
        }
        let f = b.finish();
        assert!(f.len() * 8 >= 5000 * BITS_PER_TERM && (f.len() * 8).is_power_of_two());
        for i in (0..5000).step_by(97) {
            assert!(may_hold(&f, word_hash(&format!("word{i}"))));
        }
        b.add("x");
        assert_eq!(b.finish().len() * 8, MIN_BITS);
    }

    #[test]
    fn the_hash_is_stable() {
        // Stored on disk: a change here needs a migration that rebuilds every filter.
        assert_eq!(word_hash("error"), 0x2c4e_d243_4708_dfbb);
        assert_eq!(word_hash("connection_reset"), 0xa38e_4891_7c3b_05f4);
        // The builder's on-the-fly lower-casing hashes what the search side hashes.
        let mut b = TermsBuilder::default();
        b.add("Connection RESET Request9x 492117 request_ID");
        let mut mine = b
            .table
            .iter()
            .copied()
            .filter(|&h| h != 0)
            .collect::<Vec<_>>();
        mine.sort_unstable();
        let mut theirs = [
            "connection",
            "reset",
            "request9x",
            "492117",
            "request",
            "id",
        ]
        .iter()
        .flat_map(|w| {
            let mut v = vec![word_hash(w).max(1)];
            if w.len() > PREFIX {
                v.push(prefix_hash(w).max(1));
            }
            v
        })
        .collect::<Vec<_>>();
        theirs.sort_unstable();
        theirs.dedup();
        assert_eq!(mine, theirs);
    }
}
