//! Longest-prefix match as a search over disjoint address ranges.
//!
//! A set of prefixes, each with a value, cuts the address space into ranges within which
//! the most specific covering prefix does not change. [`RangeTable`] keeps only where each
//! range starts (sorted) and its value, so a lookup is "the last start at or below the
//! address": no tree to walk, no pointers, two flat arrays shared read-only by every
//! worker. A direct index (about a quarter as many buckets as ranges) narrows the search
//! to the two to four ranges of that bucket, compared in one fixed window; each range's
//! start sits beside its value, so a lookup reads one index word and one or two cache
//! lines of ranges. Nothing is allocated per lookup. The index covers the span from the
//! first listed start to the last, not the whole address space: IPv6 prefixes share their
//! top bits (global unicast is 2000::/3, a feed's often one /16 or /32), and buckets on
//! the address's top bits would put nearly all of them in one bucket and the lookup back
//! to a long binary search over memory. IPv6 ranges are keyed by their top 64 bits
//! ([`Ipv6Table`]).
//!
//! Why not a trie or poptrie: a multibit trie answers with one load per stride but costs
//! a node per stride per prefix (hundreds of bytes per prefix for IPv6, and building it
//! is involved); the range table costs at most two ranges per prefix (a prefix opens one
//! range and may resume its parent's after it), 8 bytes per IPv4 range and 16 per IPv6
//! range plus 1 to 2 bytes of index per range (`benches/groups.rs`, docs/groups.md).

/// An unsigned address type: `u32` (IPv4), `u64` (the top half of IPv6) or `u128`.
pub trait Addr: Copy + Ord + std::fmt::Debug {
    const BITS: u32;
    /// Index the span of the listed starts (IPv6, whose prefixes share their top bits)
    /// rather than the whole space by its top bits (IPv4, spread over it: the plain shift
    /// is a few dependent instructions shorter on the way to the index load).
    const SPAN_INDEX: bool;
    const ZERO: Self;
    /// The address with every host bit of a `len`-bit prefix set, from `start`.
    fn last_of(start: Self, len: u8) -> Self;
    /// `start` with the host bits of a `len`-bit prefix cleared.
    fn network(self, len: u8) -> Self;
    /// The next address; `None` past the last one.
    fn next(self) -> Option<Self>;
    /// Bits up to the highest set one (0 for zero).
    fn bit_len(self) -> u32;
    /// `self - base`, 0 below `base`.
    fn offset(self, base: Self) -> Self;
    /// The bucket of an address `off` past the index's base: `off >> shift`, at most `last`.
    fn bucket(off: Self, shift: u32, last: usize) -> usize;
    /// The bits of `self` from bit `shift` up, as a bucket number (the top bits).
    fn top(self, shift: u32) -> usize;
    /// The first address of bucket `b`: `base + (b << shift)`; `None` past the last
    /// address (a bucket no address falls in).
    fn bucket_start(base: Self, b: usize, shift: u32) -> Option<Self>;
}

macro_rules! addr {
    ($t:ty, $span:expr) => {
        impl Addr for $t {
            const BITS: u32 = <$t>::BITS;
            const SPAN_INDEX: bool = $span;
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
            fn bit_len(self) -> u32 {
                <$t>::BITS - self.leading_zeros()
            }
            #[inline(always)]
            fn offset(self, base: Self) -> Self {
                self.saturating_sub(base)
            }
            #[inline(always)]
            fn bucket(off: Self, shift: u32, last: usize) -> usize {
                let b = off.checked_shr(shift).unwrap_or(0);
                // `last` < 2^MAX_INDEX_BITS fits in either type.
                if b > last as $t {
                    last
                } else {
                    b as usize
                }
            }
            #[inline(always)]
            fn top(self, shift: u32) -> usize {
                self.checked_shr(shift).unwrap_or(0) as usize
            }
            fn bucket_start(base: Self, b: usize, shift: u32) -> Option<Self> {
                base.checked_add((b as $t).checked_shl(shift).unwrap_or(0))
            }
        }
    };
}
addr!(u32, false);
addr!(u64, true);
addr!(u128, true);

/// The value of addresses no prefix covers.
pub const NONE: u32 = u32::MAX;

/// Most index bits: 16 M buckets (64 MiB of index) at most, reached only past 32 M ranges.
const MAX_INDEX_BITS: u32 = 24;

/// Ranges a lookup compares in one go when its bucket holds no more (most do: about
/// four ranges a bucket); the table ends with this many less one copies of its last range.
const WINDOW: usize = 8;

/// Disjoint address ranges, each with the value of its most specific covering prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeTable<T> {
    /// Where each range starts (increasing; the first is always 0) beside its value
    /// ([`NONE`] where no prefix covers it): the search's last load brings the answer.
    /// [`WINDOW`] less one copies of the last range follow.
    ranges: Box<[(T, u32)]>,
    /// `index[b]`: the first range starting at or after bucket `b`'s first address;
    /// `index[buckets]` is the number of ranges.
    index: Box<[u32]>,
    /// Bucket `b` holds the addresses `base + (b << shift)` up to the next bucket's; the
    /// first bucket also those below `base` (only range 0 starts there), the last those
    /// past the last start. `base` is the first start after 0, and `shift` makes the span
    /// to the last start fit the buckets.
    base: T,
    shift: u32,
    /// Buckets, less one.
    last_bucket: usize,
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
        let (starts, values) = cut(prefixes)?;
        Ok(RangeTable::from_cut(starts, values))
    }

    /// The table of ranges already cut: `starts` increasing from 0, one value each.
    fn from_cut(starts: Vec<T>, values: Vec<u32>) -> RangeTable<T> {
        // About two to four ranges per bucket (one cache line of IPv4 ranges): the index
        // costs 1 to 2 bytes per range, and a lookup reads its index word and one line.
        let index_bits = (usize::BITS - starts.len().leading_zeros())
            .saturating_sub(2)
            .min(MAX_INDEX_BITS);
        let buckets = 1usize << index_bits;
        let (base, shift) = if T::SPAN_INDEX {
            let base = starts.get(1).copied().unwrap_or(T::ZERO);
            let span = starts.last().map_or(T::ZERO, |&s| s.offset(base));
            (base, span.bit_len().saturating_sub(index_bits))
        } else {
            (T::ZERO, T::BITS - index_bits)
        };
        let mut index = Vec::with_capacity(buckets + 1);
        crate::mem::advise_huge_pages(&index);
        let mut i = 0usize;
        for b in 0..buckets {
            match T::bucket_start(base, b, shift) {
                Some(first) => {
                    while starts.get(i).is_some_and(|&s| s < first) {
                        i += 1;
                    }
                }
                None => i = starts.len(),
            }
            index.push(i as u32);
        }
        index.push(starts.len() as u32);
        let mut ranges = Vec::with_capacity(starts.len() + WINDOW - 1);
        crate::mem::advise_huge_pages(&ranges);
        ranges.extend(starts.into_iter().zip(values));
        if let Some(&last) = ranges.last() {
            ranges.extend(std::iter::repeat_n(last, WINDOW - 1));
        }
        RangeTable {
            ranges: ranges.into_boxed_slice(),
            index: index.into_boxed_slice(),
            base,
            shift,
            last_bucket: buckets - 1,
        }
    }

    /// The value of the most specific prefix holding `a`, or [`NONE`].
    #[inline]
    pub fn get(&self, a: T) -> u32 {
        let b = if T::SPAN_INDEX {
            T::bucket(a.offset(self.base), self.shift, self.last_bucket)
        } else {
            // The top `index_bits` bits (`shift` is the rest): always a bucket.
            a.top(self.shift)
        };
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
        if hi.wrapping_sub(lo) <= WINDOW {
            // Count over a fixed window: no loop exit to mispredict, so the lookups after
            // this one keep their loads in flight. Ranges past `hi` start in later
            // buckets, above `a`, and the padding repeats the last range: neither
            // changes the answer.
            let Some(w) = self
                .ranges
                .get(lo..lo + WINDOW)
                .and_then(|w| <&[(T, u32); WINDOW]>::try_from(w).ok())
            else {
                return NONE;
            };
            let last = w.iter().filter(|&&(s, _)| s <= a).count();
            return w.get(last.wrapping_sub(1)).map_or(NONE, |&(_, v)| v);
        }
        let Some(ranges) = self.ranges.get(lo..hi) else {
            return NONE;
        };
        search(ranges, a)
    }

    /// Number of ranges.
    pub fn ranges(&self) -> usize {
        self.ranges.len() - (WINDOW - 1)
    }

    /// Bytes held (ranges and index).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.ranges) + std::mem::size_of_val(&*self.index)
    }
}

/// Top-table values from this bit up name a split /64 ([`Ipv6Table`]); group values stay
/// below it (interned names number at most [`crate::groups::intern::MAX_NAMES`]).
const SPLIT: u32 = 1 << 31;

/// IPv6 ranges keyed by the top 64 bits of their start, with the /64s that prefixes
/// longer than /64 cut kept aside.
///
/// Feeds list IPv6 networks mostly at /64 or shorter, and within a /64 such prefixes
/// never change the answer, so a [`RangeTable<u64>`] over the top halves answers them:
/// 16-byte ranges (half the size of `u128` ones, four to a cache line) and 64-bit
/// compares. A /64 holding a range boundary below it (a /65 to /128 prefix starts or
/// ends inside) gets a split value instead of a group: the index of its own short run of
/// ranges by low 64 bits, searched only for addresses in that /64. The answers are exact
/// for every prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Table {
    top: RangeTable<u64>,
    /// `low[splits[j]..splits[j + 1]]`: the ranges of the `j`th split /64 by their low 64
    /// bits, the first starting at 0.
    splits: Box<[u32]>,
    low: Box<[(u64, u32)]>,
}

impl Ipv6Table {
    /// The table of `prefixes`, as [`RangeTable::build`] (values below 2^31).
    pub fn build(prefixes: &[(u128, u8, u32)]) -> Result<Ipv6Table, Conflict> {
        let (starts, values) = cut(prefixes)?;
        debug_assert!(values.iter().all(|&v| v < SPLIT || v == NONE));
        let mut top = Sweep {
            starts: Vec::new(),
            values: Vec::new(),
            open: Vec::new(),
        };
        let mut splits = vec![0u32];
        let mut low: Vec<(u64, u32)> = Vec::new();
        // The value of the range before `i`: where a split /64 begins when no range
        // starts on its first address.
        let mut before = NONE;
        let mut i = 0;
        while let Some(&first) = starts.get(i) {
            let block = (first >> 64) as u64;
            let end = i + starts[i..]
                .iter()
                .take_while(|&&s| (s >> 64) as u64 == block)
                .count();
            let last_value = values[end - 1];
            if end == i + 1 && first as u64 == 0 {
                top.push(block, values[i]);
            } else {
                if first as u64 != 0 {
                    low.push((0, before));
                }
                low.extend((i..end).map(|r| (starts[r] as u64, values[r])));
                top.push(block, SPLIT | (splits.len() - 1) as u32);
                splits.push(low.len() as u32);
                // The value the split /64 ends with goes on from the next one (replaced
                // if a range starts there).
                if let Some(next) = block.checked_add(1) {
                    top.push(next, last_value);
                }
            }
            before = last_value;
            i = end;
        }
        debug_assert!(splits.len() < SPLIT as usize);
        Ok(Ipv6Table {
            top: RangeTable::from_cut(top.starts, top.values),
            splits: splits.into_boxed_slice(),
            low: low.into_boxed_slice(),
        })
    }

    /// The value of the most specific prefix holding `a`, or [`NONE`].
    #[inline]
    pub fn get(&self, a: u128) -> u32 {
        let v = self.top.get((a >> 64) as u64);
        if v < SPLIT || v == NONE {
            return v;
        }
        self.inside(v & !SPLIT, a as u64)
    }

    /// The value at `low` inside the `j`th split /64.
    fn inside(&self, j: u32, low: u64) -> u32 {
        let j = j as usize;
        let lo = self.splits.get(j).map_or(0, |&i| i as usize);
        let hi = self.splits.get(j + 1).map_or(0, |&i| i as usize);
        self.low.get(lo..hi).map_or(NONE, |r| search(r, low))
    }

    /// Number of ranges (whole /64s and those inside split ones).
    pub fn ranges(&self) -> usize {
        self.top.ranges() + self.low.len()
    }

    /// Bytes held (both levels and the index).
    pub fn heap_bytes(&self) -> usize {
        self.top.heap_bytes()
            + std::mem::size_of_val(&*self.splits)
            + std::mem::size_of_val(&*self.low)
    }
}

/// The value of the last range in `ranges` starting at or below `a` ([`NONE`] if none does).
#[inline(always)]
fn search<T: Addr>(ranges: &[(T, u32)], a: T) -> u32 {
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

/// Cut `prefixes` (as [`RangeTable::build`] takes them) into disjoint ranges: the sorted
/// starts (the first is 0) and the value of each.
fn cut<T: Addr>(prefixes: &[(T, u8, u32)]) -> Result<(Vec<T>, Vec<u32>), Conflict> {
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
    Ok((starts, values))
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

    /// IPv6 prefixes that share their top 32 bits (one provider's /32) still spread over
    /// the buckets: each bucket holds a handful of ranges, and lookups agree with brute
    /// force inside, below and above the span.
    #[test]
    fn clustered_ipv6_prefixes_spread_over_the_index() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let base = v6("2001:db8::");
        let mut p: Vec<(u128, u8, u32)> = (0..20_000u32)
            .map(|i| {
                let len = [48u8, 56, 64, 128][i as usize % 4];
                let a = base | u128::from(next()) << 32 | u128::from(next() as u32);
                (a.network(len), len, i % 7)
            })
            .collect();
        p.sort_by_key(|&(a, l, _)| (a, l));
        p.dedup_by_key(|&mut (a, l, _)| (a, l));
        let t = RangeTable::build(&p).unwrap();
        let longest = t.index.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            longest <= 32,
            "{longest} ranges in one bucket of {}",
            t.index.len() - 1
        );
        for k in 0..20_000 {
            let (n, len, _) = p[k % p.len()];
            let host = u128::from(next()) & u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            let a = n | host;
            assert_eq!(t.get(a), slow(&p, a), "{a:#x}");
        }
        for a in [0, 1, base - 1, base, v6("2001:db9::"), u128::MAX] {
            assert_eq!(t.get(a), slow(&p, a), "{a:#x}");
        }
    }

    /// The index's buckets run from the first listed start past the last address when
    /// that start is not aligned; those beyond hold no range, and the last address still
    /// finds a range that starts on it.
    #[test]
    fn buckets_past_the_last_address_hold_nothing() {
        let mut p: Vec<(u128, u8, u32)> = (0..40u32)
            .map(|k| (v6("2001:db8:5::") + u128::from(k) * 2, 128, k % 3))
            .collect();
        p.push((v6("2001:db8::"), 32, 7));
        p.push((u128::MAX, 128, 9));
        let t = RangeTable::build(&p).unwrap();
        assert!(t.index.len() >= 17, "{} buckets", t.index.len() - 1);
        for a in [
            u128::MAX,
            u128::MAX - 1,
            v6("2001:db8:5::3"),
            v6("2001:db8:5::4"),
            0,
        ] {
            assert_eq!(t.get(a), slow(&p, a), "{a:#x}");
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

    /// IPv6 ranges keyed by their top 64 bits agree with brute force whatever the prefix
    /// lengths: /0, /64, /65 to /128 inside and across /64s, nested runs, prefixes
    /// ending at the last address, and IPv4 sets built beside them.
    #[test]
    fn mixed_families_match_brute_force() {
        let mut x: u64 = 0xD1B5_4A32_D192_ED03;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..60u32 {
            let n = 1 + (next() % 200) as usize;
            let mut p6: Vec<(u128, u8, u32)> = Vec::new();
            let mut p4: Vec<(u32, u8, u32)> = Vec::new();
            // Few distinct top and middle bits so prefixes nest within one /64 and
            // across neighbouring ones; the top of the space in some rounds.
            let top = if round % 3 == 0 {
                u64::MAX - 3
            } else {
                0x2001_0db8_0000_0000
            };
            for i in 0..n {
                let hi = top.wrapping_add(next() % 4);
                let lo = (next() & 0xF000_0000_0000_00FF) | (next() % 3);
                let a = u128::from(hi) << 64 | u128::from(lo);
                let len = match next() % 6 {
                    0 => (next() % 65) as u8,
                    1 => 64,
                    2 => 128,
                    _ => 64 + (next() % 65) as u8,
                };
                p6.push((a.network(len), len, i as u32 % 5));
                let a4 = (next() as u32 & 0xF0F0_00FF) | (0xF000_0000 * (round % 2));
                let len4 = (next() % 33) as u8;
                p4.push((a4.network(len4), len4, i as u32 % 5));
            }
            if round % 4 == 0 {
                p6.push((0, 0, 9));
                p4.push((0, 0, 9));
            }
            if round % 5 == 0 {
                p6.push((u128::MAX, 128, 8));
                p4.push((u32::MAX, 32, 8));
            }
            p6.sort_by_key(|&(a, l, _)| (a, l));
            p6.dedup_by_key(|&mut (a, l, _)| (a, l));
            p4.sort_by_key(|&(a, l, _)| (a, l));
            p4.dedup_by_key(|&mut (a, l, _)| (a, l));
            let t6 = Ipv6Table::build(&p6).unwrap();
            let t4 = RangeTable::build(&p4).unwrap();
            for _ in 0..3000 {
                let (net, len, _) = p6[(next() as usize) % p6.len()];
                let host = u128::from(next()) << 64 | u128::from(next());
                let inside = net | (host & u128::MAX.checked_shr(u32::from(len)).unwrap_or(0));
                let last = u128::last_of(net, len);
                for a in [
                    inside,
                    net,
                    last,
                    net.wrapping_sub(1),
                    last.wrapping_add(1),
                    host,
                    u128::from(top) << 64 | (host & 0xFF),
                ] {
                    assert_eq!(t6.get(a), slow(&p6, a), "{a:#x} round {round}");
                }
                let (net4, len4, _) = p4[(next() as usize) % p4.len()];
                let last4 = u32::last_of(net4, len4);
                for a in [
                    net4 | (next() as u32 & u32::MAX.checked_shr(u32::from(len4)).unwrap_or(0)),
                    net4,
                    last4,
                    net4.wrapping_sub(1),
                    last4.wrapping_add(1),
                    next() as u32,
                ] {
                    assert_eq!(t4.get(a), slow(&p4, a), "{a:#x} round {round}");
                }
            }
            for a in [0, 1, u128::MAX, u128::MAX - 1, u128::from(u64::MAX)] {
                assert_eq!(t6.get(a), slow(&p6, a), "{a:#x} round {round}");
            }
        }
        let empty = Ipv6Table::build(&[]).unwrap();
        assert_eq!(empty.get(0), NONE);
        assert_eq!(empty.get(u128::MAX), NONE);
    }
}
