//! Bounded lock-free rings between receive threads and flow workers.
//!
//! One ring per (receive thread, worker) pair, so each ring has exactly one producer and
//! one consumer; ownership is the API: [`ring`] returns a `Producer` and a `Consumer`, each
//! `Send`, neither `Clone`. A full ring never blocks the producer: it gets the items back
//! and counts them as dropped.
//!
//! The layout follows rtrb: head (next slot to read, written by the consumer) and tail
//! (next slot to write, written by the producer) sit on their own cache lines, and each side
//! keeps a private copy of the other's index, reloading it only when the ring looks full
//! (producer) or empty (consumer). A batch costs one index store, not one atomic
//! read-modify-write per item as a multi-producer queue would: receive threads push up to
//! ~7 M items/s, so the per-item cost is what matters.
//!
//! Indices grow without bound (wrapping `usize`); the slot of index `i` is `i % capacity`.
//! Invariant: `head <= tail <= head + capacity`, and slots in `head..tail` hold initialised
//! items owned by the ring.
//!
//! Waiting is the consumer's choice: it may [`Consumer::attach`] a [`Doorbell`], and from
//! then on every publishing store of the producer (a `commit`, a `push`, dropping the
//! producer) rings it, so a parked consumer wakes at once instead of polling.

#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam::utils::CachePadded;

use crate::wake::Doorbell;

struct Shared<T> {
    /// Next index to read; written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Next index to write; written only by the producer.
    tail: CachePadded<AtomicUsize>,
    /// A power of two of slots, at least `capacity`: an index maps to its slot with a mask
    /// instead of a division (a `div` per item costs about a tenth of the hand-off:
    /// docs/perf/receive.md).
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Items the ring holds at most; the producer never runs further ahead of `head`.
    capacity: usize,
    producer_gone: AtomicBool,
    /// The consumer's doorbell, rung after every publishing store of `tail`.
    doorbell: OnceLock<Arc<Doorbell>>,
}

// SAFETY: a slot is only ever accessed by one side at a time: the producer writes slots in
// `tail..head + capacity` before publishing them with a Release store of `tail`; the
// consumer reads slots in `head..tail` after an Acquire load of `tail`, and hands them back
// with a Release store of `head`, which the producer loads with Acquire before reusing them.
// Items move between threads, hence `T: Send`.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above; the ring owns its items.
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Shared<T> {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn slot(&self, index: usize) -> *mut MaybeUninit<T> {
        // `slots.len()` is a power of two, so this is `index % len` (also across the wrap of
        // the free-running index), and at most `capacity` consecutive indexes are live.
        self.slots[index & (self.slots.len() - 1)].get()
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Both halves are gone: drop the items still in the ring.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut i = head;
        while i != tail {
            // SAFETY: slots in head..tail are initialised and owned by the ring; `&mut self`
            // means no other access.
            unsafe { (*self.slot(i)).assume_init_drop() };
            i = i.wrapping_add(1);
        }
    }
}

/// The sending half of a ring.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Local copy of `shared.tail` (only this side writes it).
    tail: usize,
    /// Last `head` seen; the real one can only be further ahead.
    cached_head: usize,
}

/// The receiving half of a ring.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Local copy of `shared.head` (only this side writes it).
    head: usize,
    /// Last `tail` seen; the real one can only be further ahead.
    cached_tail: usize,
}

/// A ring holding at most `capacity` items (at least 1).
pub fn ring<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let capacity = capacity.max(1);
    let slots = (0..capacity.next_power_of_two())
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        slots,
        capacity,
        producer_gone: AtomicBool::new(false),
        doorbell: OnceLock::new(),
    });
    (
        Producer {
            shared: Arc::clone(&shared),
            tail: 0,
            cached_head: 0,
        },
        Consumer {
            shared,
            head: 0,
            cached_tail: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Tell a parked consumer that items were published (see [`crate::wake`]).
    #[inline]
    fn notify(&self) {
        if let Some(d) = self.shared.doorbell.get() {
            d.ring();
        }
    }

    /// Free slots, reloading the consumer's index only when the cached one says fewer than
    /// `want` are free.
    fn room(&mut self, want: usize) -> usize {
        let cap = self.shared.capacity();
        let free = cap - self.tail.wrapping_sub(self.cached_head);
        if free >= want {
            return free;
        }
        self.cached_head = self.shared.head.load(Ordering::Acquire);
        cap - self.tail.wrapping_sub(self.cached_head)
    }

    /// Push one item, or give it back when the ring is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.room(1) == 0 {
            return Err(item);
        }
        // SAFETY: the slot of `tail` is free (room >= 1) and not visible to the consumer
        // until the Release store below.
        unsafe { (*self.shared.slot(self.tail)).write(item) };
        self.tail = self.tail.wrapping_add(1);
        self.shared.tail.store(self.tail, Ordering::Release);
        self.notify();
        Ok(())
    }

    /// Push a whole batch or none of it. On success `batch` is left empty; when there is
    /// not room for all of it, `batch` is untouched and `Err(len)` says how many did not go.
    pub fn push_batch(&mut self, batch: &mut Vec<T>) -> Result<(), usize> {
        let n = batch.len();
        if n == 0 {
            return Ok(());
        }
        if self.room(n) < n {
            return Err(n);
        }
        let mut i = self.tail;
        for item in batch.drain(..) {
            // SAFETY: `n` slots from `tail` are free and unpublished until the store below.
            unsafe { (*self.shared.slot(i)).write(item) };
            i = i.wrapping_add(1);
        }
        self.tail = i;
        self.shared.tail.store(self.tail, Ordering::Release);
        self.notify();
        Ok(())
    }

    /// Write one item into the ring without making it visible yet, or give it back when
    /// the ring is full. Items become visible to the consumer, in order, at the next
    /// [`Producer::commit`] (or `push`, `push_batch`, or when the producer is dropped). This
    /// is how a receive thread fills a batch in place: one copy per item and one index store
    /// per batch.
    pub fn push_deferred(&mut self, item: T) -> Result<(), T> {
        if self.room(1) == 0 {
            return Err(item);
        }
        // SAFETY: the slot of `tail` is free (room >= 1); the consumer cannot see it before
        // the next Release store of `tail`.
        unsafe { (*self.shared.slot(self.tail)).write(item) };
        self.tail = self.tail.wrapping_add(1);
        Ok(())
    }

    /// Make every item written with [`Producer::push_deferred`] visible to the consumer, and
    /// ring its doorbell.
    pub fn commit(&mut self) {
        self.shared.tail.store(self.tail, Ordering::Release);
        self.notify();
    }

    /// Items written but not yet committed.
    pub fn uncommitted(&self) -> usize {
        self.tail
            .wrapping_sub(self.shared.tail.load(Ordering::Relaxed))
    }

    /// Items that fit right now.
    pub fn free(&self) -> usize {
        let head = self.shared.head.load(Ordering::Acquire);
        self.shared.capacity() - self.tail.wrapping_sub(head)
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.shared.tail.store(self.tail, Ordering::Release);
        self.shared.producer_gone.store(true, Ordering::Release);
        // After `producer_gone`: a consumer waiting for the ring to finish must see it.
        self.notify();
    }
}

impl<T> Consumer<T> {
    /// Have every later publishing store of the producer ring `doorbell`, so this side can
    /// park when the ring is empty. A ring takes one doorbell; a second is given back.
    pub fn attach(&self, doorbell: Arc<Doorbell>) -> Result<(), Arc<Doorbell>> {
        self.shared.doorbell.set(doorbell)
    }

    /// Items available, reloading the producer's index only when the cached one says none.
    fn available(&mut self) -> usize {
        let n = self.cached_tail.wrapping_sub(self.head);
        if n > 0 {
            return n;
        }
        self.cached_tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.wrapping_sub(self.head)
    }

    pub fn pop(&mut self) -> Option<T> {
        if self.available() == 0 {
            return None;
        }
        // SAFETY: the slot of `head` was published by the producer (Acquire load of tail
        // in `available`), and the producer will not reuse it before the store below.
        let item = unsafe { (*self.shared.slot(self.head)).assume_init_read() };
        self.head = self.head.wrapping_add(1);
        self.shared.head.store(self.head, Ordering::Release);
        Some(item)
    }

    /// Move up to `max` items into `out`; returns how many moved.
    pub fn pop_into(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let n = self.available().min(max);
        if n == 0 {
            return 0;
        }
        out.reserve(n);
        let mut i = self.head;
        for _ in 0..n {
            // SAFETY: as in `pop`, for each of the `n` published slots from `head`.
            out.push(unsafe { (*self.shared.slot(i)).assume_init_read() });
            i = i.wrapping_add(1);
        }
        self.head = i;
        self.shared.head.store(self.head, Ordering::Release);
        n
    }

    pub fn len(&self) -> usize {
        self.shared
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the producer is dropped and every item it pushed has been taken.
    pub fn is_finished(&self) -> bool {
        // The producer's last tail store happens before its Release of `producer_gone`.
        self.shared.producer_gone.load(Ordering::Acquire) && self.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_all_or_nothing() {
        let (mut p, mut c) = ring(4);
        let mut b = vec![1, 2, 3];
        assert_eq!(p.push_batch(&mut b), Ok(()));
        assert!(b.is_empty());
        let mut b = vec![4, 5];
        assert_eq!(p.push_batch(&mut b), Err(2));
        assert_eq!(b, vec![4, 5]);
        let mut out = Vec::new();
        assert_eq!(c.pop_into(&mut out, 10), 3);
        assert_eq!(out, vec![1, 2, 3]);
        assert!(!c.is_finished());
        drop(p);
        assert!(c.is_finished());
    }

    #[test]
    fn wraps_around_and_reports_room() {
        let (mut p, mut c) = ring(3);
        assert_eq!(p.capacity(), 3);
        for round in 0..10 {
            assert_eq!(p.free(), 3);
            assert_eq!(p.push(round), Ok(()));
            assert_eq!(p.push(round + 100), Ok(()));
            assert_eq!(p.push(round + 200), Ok(()));
            assert_eq!(p.push(9), Err(9));
            assert_eq!(c.len(), 3);
            assert_eq!(c.pop(), Some(round));
            let mut out = Vec::new();
            assert_eq!(c.pop_into(&mut out, 1), 1);
            assert_eq!(c.pop(), Some(round + 200));
            assert_eq!(c.pop(), None);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn deferred_items_appear_at_commit() {
        let (mut p, mut c) = ring(2);
        assert_eq!(p.push_deferred(1), Ok(()));
        assert_eq!(p.push_deferred(2), Ok(()));
        assert_eq!(
            p.push_deferred(3),
            Err(3),
            "full counts written, uncommitted items"
        );
        assert_eq!(p.uncommitted(), 2);
        assert_eq!(c.pop(), None);
        p.commit();
        assert_eq!(p.uncommitted(), 0);
        assert_eq!(c.pop(), Some(1));
        assert_eq!(p.push_deferred(4), Ok(()));
        drop(p);
        assert_eq!(c.pop(), Some(2));
        assert_eq!(c.pop(), Some(4), "dropping the producer commits");
        assert!(c.is_finished());
    }

    #[test]
    fn drops_items_left_in_the_ring() {
        let item = Arc::new(());
        let (mut p, c) = ring(8);
        for _ in 0..5 {
            assert!(p.push(Arc::clone(&item)).is_ok());
        }
        drop(p);
        drop(c);
        assert_eq!(Arc::strong_count(&item), 1);
    }

    #[test]
    fn two_threads_see_every_item_in_order() {
        let (mut p, mut c) = ring::<u64>(64);
        const N: u64 = 200_000;
        let producer = std::thread::spawn(move || {
            let mut next = 0;
            let mut batch = Vec::with_capacity(7);
            // Bounded: each pass either pushes or yields, and the consumer keeps draining.
            while next < N {
                batch.extend((next..N).take(7));
                let n = batch.len() as u64;
                match p.push_batch(&mut batch) {
                    Ok(()) => next += n,
                    Err(_) => {
                        batch.clear();
                        std::thread::yield_now();
                    }
                }
            }
        });
        let mut expect = 0;
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !c.is_finished() && std::time::Instant::now() < deadline {
            out.clear();
            if c.pop_into(&mut out, 100) == 0 {
                std::thread::yield_now();
            }
            for &v in &out {
                assert_eq!(v, expect);
                expect += 1;
            }
        }
        producer.join().unwrap();
        assert_eq!(expect, N);
    }
}
