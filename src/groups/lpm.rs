//! Longest-prefix match as a search over disjoint address ranges.
//!
//! A set of prefixes, each with a value, cuts the address space into ranges within which
//! the most specific covering prefix does not change. [`RangeTable`] keeps only where each
//! range starts (sorted) and its value, so a lookup is "the last start at or below the
//! address": no tree to walk, no pointers, two flat arrays shared read-only by every
//! worker. A direct index on the address's top bits (about a quarter as many buckets as
//! ranges) narrows the search to the two to four ranges of that bucket before a short
//! binary search; each range's start sits beside its value, so a lookup reads one index
//! word and about one cache line of ranges. Nothing is allocated per lookup.
//!
//! Why not a trie or poptrie: a multibit trie answers with one load per stride but costs
//! a node per stride per prefix (hundreds of bytes per prefix for IPv6, and building it
//! is involved); the range table costs at most two ranges per prefix (a prefix opens one
//! range and may resume its parent's after it), 8 bytes per IPv4 range and 32 per IPv6
//! range (a `u128` start, aligned) plus 1 to 2 bytes of index per range
//! (`benches/groups.rs`, docs/groups.md).

/// An unsigned address type: `u32` (IPv4) or `u128` (IPv6).
pub trait Addr: Copy + Ord + std::fmt::Debug {
    const BITS: u32;
    const ZERO: Self;
    /// The address with every host bit of a `len`-bit prefix set, from `start`.
    fn last_of(start: Self, len: u8) -> Self;
    /// `start` with the host bits of a `len`-bit prefix cleared.
    fn network(self, len: u8) -> Self;
    /// The next address; `None` past the last one.
    fn next(self) -> Option<Self>;
    /// The top `bits` bits (at most 16) as a bucket number.
    fn top(self, bits: u32) -> usize;
    /// The first address of bucket `b` of `bits`-bit buckets.
    fn bucket_start(b: usize, bits: u32) -> Self;
}

macro_rules! addr {
    ($t:ty) => {
        impl Addr for $t {
            const BITS: u32 = <$t>::BITS;
            const ZERO: Self = 0;
            #[inline]
            fn last_of(start: Self, len: u8) -> Self {
                start | <$t>::MAX.checked_shr(u32::from(len)).unwrap_or(0)
            }
            #[inline]
            fn network(self, len: u8) -> Self {
                self & !<$t>::MAX.checked_shr(u32::from(len)).unwrap_or(0)
            }
            #[inline]
            fn next(self) -> Option<Self> {
                self.checked_add(1)
            }
            #[inline(always)]
            fn top(self, bits: u32) -> usize {
                self.checked_shr(<$t>::BITS - bits).unwrap_or(0) as usize
            }
            fn bucket_start(b: usize, bits: u32) -> Self {
                (b as $t).checked_shl(<$t>::BITS - bits).unwrap_or(0)
            }
        }
    };
}
addr!(u32);
addr!(u128);

/// The value of addresses no prefix covers.
pub const NONE: u32 = u32::MAX;

/// Most index bits: 16 M buckets (64 MiB of index) at most, reached only past 32 M ranges.
const MAX_INDEX_BITS: u32 = 24;

/// Disjoint address ranges, each with the value of its most specific covering prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeTable<T> {
    /// Where each range starts (increasing; the first is always 0) beside its value
    /// ([`NONE`] where no prefix covers it): the search's last load brings the answer.
    ranges: Box<[(T, u32)]>,
    /// `index[b]`: the first range starting at or after bucket `b`'s first address;
    /// `index[buckets]` is the number of ranges.
    index: Box<[u32]>,
    index_bits: u32,
}

/// Two prefixes are the same but their values differ: which one counts is ambiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Positions (in the input) of the two entries.
    pub first: usize,
    pub second: usize,
}

impl<T: Addr> RangeTable<T> {
    /// The table of `prefixes` (`(address, length, value)`, host bits ignored, length at
    /// most `T::BITS`). The same prefix twice with one value counts once; with two
    /// values it is a [`Conflict`].
    pub fn build(prefixes: &[(T, u8, u32)]) -> Result<RangeTable<T>, Conflict> {
        let mut order: Vec<(T, u8, u32, usize)> = prefixes
            .iter()
            .enumerate()
            .map(|(i, &(a, len, v))| {
                let len = len.min(T::BITS as u8);
                (a.network(len), len, v, i)
            })
            .collect();
        // Parents before their children: by start, then shorter first.
        order.sort_unstable_by_key(|&(start, len, _, at)| (start, len, at));
        order.dedup_by(|later, kept| (later.0, later.1) == (kept.0, kept.1) && later.2 == kept.2);
        if let Some(w) = order
            .windows(2)
            .find(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1))
        {
            let (a, b) = (w[0].3.min(w[1].3), w[0].3.max(w[1].3));
            return Err(Conflict {
                first: a,
                second: b,
            });
        }
        let mut sweep = Sweep {
            starts: vec![T::ZERO],
            values: vec![NONE],
            open: Vec::new(),
        };
        for &(start, len, value, _) in &order {
            sweep.close(Some(start));
            sweep.push(start, value);
            sweep.open.push((T::last_of(start, len), value));
        }
        sweep.close(None);
        let Sweep { starts, values, .. } = sweep;

        // About two to four ranges per bucket (one cache line of IPv4 ranges): the index
        // costs 1 to 2 bytes per range, and a lookup reads its index word and one line.
        let index_bits = (usize::BITS - starts.len().leading_zeros())
            .saturating_sub(2)
            .min(MAX_INDEX_BITS);
        let buckets = 1usize << index_bits;
        let mut index = Vec::with_capacity(buckets + 1);
        crate::mem::advise_huge_pages(&index);
        let mut i = 0usize;
        for b in 0..buckets {
            let first = T::bucket_start(b, index_bits);
            while starts.get(i).is_some_and(|&s| s < first) {
                i += 1;
            }
            index.push(i as u32);
        }
        index.push(starts.len() as u32);
        let mut ranges = Vec::with_capacity(starts.len());
        crate::mem::advise_huge_pages(&ranges);
        ranges.extend(starts.into_iter().zip(values));
        Ok(RangeTable {
            ranges: ranges.into_boxed_slice(),
            index: index.into_boxed_slice(),
            index_bits,
        })
    }

    /// The value of the most specific prefix holding `a`, or [`NONE`].
    #[inline]
    pub fn get(&self, a: T) -> u32 {
        let b = a.top(self.index_bits);
        // The answer is the last start at or below `a`: at or after the last range that
        // starts before this bucket, and before the first range of the next bucket.
        let lo = self
            .index
            .get(b)
            .map_or(0, |&i| i.saturating_sub(1) as usize);
        let hi = self
            .index
            .get(b + 1)
            .map_or(self.ranges.len(), |&i| i as usize);
        let Some(ranges) = self.ranges.get(lo..hi) else {
            return NONE;
        };
        // Halve a long run (clustered prefixes), then count the starts at or below `a`
        // in the last few: no branch on the data, all within a line or two.
        let mut base = 0usize;
        let mut n = ranges.len();
        while n > 8 {
            let half = n / 2;
            let mid = base + half;
            if ranges.get(mid).is_some_and(|&(s, _)| s <= a) {
                base = mid;
            }
            n -= half;
        }
        let last = ranges
            .get(base..base + n)
            .map_or(0, |w| w.iter().filter(|&&(s, _)| s <= a).count());
        ranges
            .get((base + last).wrapping_sub(1))
            .map_or(NONE, |&(_, v)| v)
    }

    /// Number of ranges.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Bytes held (ranges and index).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.ranges) + std::mem::size_of_val(&*self.index)
    }
}

/// The ranges being cut, in address order, while prefixes open and close.
struct Sweep<T> {
    starts: Vec<T>,
    values: Vec<u32>,
    /// Open prefixes, innermost last: (last address, value).
    open: Vec<(T, u32)>,
}

impl<T: Addr> Sweep<T> {
    /// A range starting at `at` with `value`: replaces a range starting at the same
    /// address, and merges into the previous one when the value is the same.
    fn push(&mut self, at: T, value: u32) {
        if self.starts.last() == Some(&at) {
            if let Some(v) = self.values.last_mut() {
                *v = value;
            }
        } else if self.values.last() != Some(&value) {
            self.starts.push(at);
            self.values.push(value);
        }
    }

    /// Close the open prefixes that end before `until` (all of them for `None`): after
    /// each, the enclosing prefix's value resumes.
    fn close(&mut self, until: Option<T>) {
        while let Some(&(last, _)) = self.open.last() {
            if until.is_some_and(|s| last >= s) {
                break;
            }
            self.open.pop();
            let resumed = self.open.last().map_or(NONE, |&(_, v)| v);
            if let Some(after) = last.next() {
                self.push(after, resumed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }
    fn v6(s: &str) -> u128 {
        u128::from(s.parse::<std::net::Ipv6Addr>().unwrap())
    }

    /// The answer by brute force: the longest prefix holding `a`.
    fn slow<T: Addr>(prefixes: &[(T, u8, u32)], a: T) -> u32 {
        prefixes
            .iter()
            .filter(|&&(n, len, _)| a.network(len) == n.network(len))
            .max_by_key(|&&(_, len, _)| len)
            .map_or(NONE, |&(_, _, v)| v)
    }

    #[test]
    fn most_specific_wins_ipv4() {
        let p = [
            (v4("0.0.0.0"), 0, 0),
            (v4("10.0.0.0"), 8, 1),
            (v4("10.1.0.0"), 16, 2),
            (v4("10.1.2.3"), 32, 3),
            (v4("192.168.0.0"), 16, 4),
        ];
        let t = RangeTable::build(&p).unwrap();
        for (a, want) in [
            ("0.0.0.0", 0),
            ("9.255.255.255", 0),
            ("10.0.0.0", 1),
            ("10.0.255.255", 1),
            ("10.1.0.0", 2),
            ("10.1.2.2", 2),
            ("10.1.2.3", 3),
            ("10.1.2.4", 2),
            ("10.1.255.255", 2),
            ("10.2.0.0", 1),
            ("10.255.255.255", 1),
            ("11.0.0.0", 0),
            ("192.168.255.255", 4),
            ("192.169.0.0", 0),
            ("255.255.255.255", 0),
        ] {
            assert_eq!(t.get(v4(a)), want, "{a}");
        }
    }

    #[test]
    fn uncovered_addresses_have_no_value() {
        let t =
            RangeTable::build(&[(v4("10.0.0.0"), 8, 7), (v4("255.255.255.255"), 32, 9)]).unwrap();
        assert_eq!(t.get(v4("9.9.9.9")), NONE);
        assert_eq!(t.get(v4("10.9.9.9")), 7);
        assert_eq!(t.get(v4("11.0.0.0")), NONE);
        assert_eq!(t.get(v4("255.255.255.254")), NONE);
        assert_eq!(t.get(v4("255.255.255.255")), 9);
        let empty = RangeTable::<u32>::build(&[]).unwrap();
        assert_eq!(empty.get(0), NONE);
        assert_eq!(empty.get(u32::MAX), NONE);
    }

    #[test]
    fn ipv6_prefixes_and_full_length() {
        let p = [
            (v6("::"), 0, 0),
            (v6("2001:db8::"), 32, 1),
            (v6("2001:db8:1::"), 48, 2),
            (v6("2001:db8:1::1"), 128, 3),
            (v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 128, 4),
        ];
        let t = RangeTable::build(&p).unwrap();
        for (a, want) in [
            ("::1", 0),
            ("2001:db8::5", 1),
            ("2001:db8:1::", 2),
            ("2001:db8:1::1", 3),
            ("2001:db8:1::2", 2),
            ("2001:db8:2::", 1),
            ("2001:db9::", 0),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 4),
        ] {
            assert_eq!(t.get(v6(a)), want, "{a}");
        }
    }

    #[test]
    fn host_bits_are_ignored_and_duplicates_count_once() {
        let t = RangeTable::build(&[(v4("10.1.2.3"), 8, 1), (v4("10.0.0.0"), 8, 1)]).unwrap();
        assert_eq!(t.get(v4("10.200.0.0")), 1);
        assert_eq!(t.ranges(), 3);
        let e = RangeTable::build(&[
            (v4("1.0.0.0"), 8, 1),
            (v4("10.0.0.0"), 8, 1),
            (v4("10.9.0.0"), 8, 2),
        ])
        .unwrap_err();
        assert_eq!(
            e,
            Conflict {
                first: 1,
                second: 2
            }
        );
    }

    #[test]
    fn matches_brute_force_on_random_overlapping_sets() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..40 {
            let n = 1 + (next() % 300) as usize;
            let mut p: Vec<(u32, u8, u32)> = Vec::new();
            for i in 0..n {
                // Few distinct top bits so prefixes nest and overlap often.
                let a = ((next() as u32) & 0xF0F0_FFFF) | (round << 28);
                let len = (next() % 33) as u8;
                p.push((a.network(len), len, i as u32));
            }
            // Drop same-prefix pairs (a conflict, tested above).
            p.sort_by_key(|&(a, l, _)| (a, l));
            p.dedup_by_key(|&mut (a, l, _)| (a, l));
            let t = RangeTable::build(&p).unwrap();
            assert!(t.ranges() <= 2 * p.len() + 1);
            for _ in 0..2000 {
                let a = if next() % 2 == 0 {
                    let (n, len, _) = p[(next() as usize) % p.len()];
                    n | (next() as u32 & u32::MAX.checked_shr(u32::from(len)).unwrap_or(0))
                } else {
                    next() as u32
                };
                assert_eq!(t.get(a), slow(&p, a), "{a:#x} round {round}");
            }
        }
        let mut p6: Vec<(u128, u8, u32)> = Vec::new();
        for i in 0..500u32 {
            let a = (u128::from(next()) << 64 | u128::from(next())) & !(0xFFFFu128 << 100);
            let len = (next() % 129) as u8;
            p6.push((a.network(len), len, i));
        }
        p6.sort_by_key(|&(a, l, _)| (a, l));
        p6.dedup_by_key(|&mut (a, l, _)| (a, l));
        let t = RangeTable::build(&p6).unwrap();
        for _ in 0..5000 {
            let (n, len, _) = p6[(next() as usize) % p6.len()];
            let a = n
                | ((u128::from(next()) << 64 | u128::from(next()))
                    & u128::MAX.checked_shr(u32::from(len)).unwrap_or(0));
            assert_eq!(t.get(a), slow(&p6, a));
            let r = u128::from(next()) << 64 | u128::from(next());
            assert_eq!(t.get(r), slow(&p6, r));
        }
    }
}
