//! Bounded lock-free rings between receive threads and flow workers.
//!
//! One ring per (receive thread, worker) pair, so each ring has exactly one producer and
//! one consumer; ownership is the API: [`ring`] returns a `Producer` and a `Consumer`, each
//! `Send`, neither `Clone`. A full ring never blocks the producer: it gets the items back
//! and counts them as dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

struct Shared<T> {
    queue: ArrayQueue<T>,
    producer_gone: AtomicBool,
}

/// The sending half of a ring.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half of a ring.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
}

/// A ring holding at most `capacity` items (at least 1).
pub fn ring<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let shared = Arc::new(Shared {
        queue: ArrayQueue::new(capacity.max(1)),
        producer_gone: AtomicBool::new(false),
    });
    (
        Producer {
            shared: Arc::clone(&shared),
        },
        Consumer { shared },
    )
}

impl<T> Producer<T> {
    /// Push one item, or give it back when the ring is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        self.shared.queue.push(item)
    }

    /// Push a whole batch or none of it. On success `batch` is left empty; when there is
    /// not room for all of it, `batch` is untouched and `Err(len)` says how many did not go.
    pub fn push_batch(&mut self, batch: &mut Vec<T>) -> Result<(), usize> {
        let q = &self.shared.queue;
        // Sound without a lock: this is the only producer, so free space can only grow
        // between this check and the pushes below.
        if q.capacity() - q.len() < batch.len() {
            return Err(batch.len());
        }
        for item in batch.drain(..) {
            if q.push(item).is_err() {
                unreachable!("single producer saw room for the batch");
            }
        }
        Ok(())
    }

    /// Items that fit right now.
    pub fn free(&self) -> usize {
        self.shared.queue.capacity() - self.shared.queue.len()
    }

    pub fn capacity(&self) -> usize {
        self.shared.queue.capacity()
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.shared.producer_gone.store(true, Ordering::Release);
    }
}

impl<T> Consumer<T> {
    pub fn pop(&mut self) -> Option<T> {
        self.shared.queue.pop()
    }

    /// Move up to `max` items into `out`; returns how many moved.
    pub fn pop_into(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.shared.queue.pop() {
                Some(item) => {
                    out.push(item);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }

    /// True once the producer is dropped and every item it pushed has been taken.
    pub fn is_finished(&self) -> bool {
        self.shared.producer_gone.load(Ordering::Acquire) && self.shared.queue.is_empty()
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
}
