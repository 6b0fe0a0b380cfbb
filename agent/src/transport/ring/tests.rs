//! [`Ring`] over plain memory laid out as the kernel lays out a ring buffer:
//! order, discarded and busy records, a record that wraps, and when the
//! consumer position is published. The kernel side is exercised by every
//! privileged end-to-end test, which reads its events through this reader.
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use super::{Ring, BUSY, DISCARD, HDR};

/// A producer writing records as `kernel/bpf/ringbuf.c` does.
struct Fake {
    cons: Box<AtomicUsize>,
    prod: Box<AtomicUsize>,
    /// The data pages twice (u64s for the records' 8-byte alignment).
    _buf: Vec<u64>,
    data: *mut u8,
    size: usize,
}

impl Fake {
    fn new(size: usize) -> Fake {
        let mut buf = vec![0u64; 2 * size / 8];
        let data = buf.as_mut_ptr().cast::<u8>();
        Fake { cons: Box::new(AtomicUsize::new(0)), prod: Box::new(AtomicUsize::new(0)), _buf: buf, data, size }
    }

    fn ring(&self, wakeup_bytes: usize) -> Ring {
        // SAFETY: the positions and both copies of the data live as long as `self`.
        unsafe { Ring::over(None, -1, &*self.cons, &*self.prod, self.data, self.size, wakeup_bytes) }
    }

    /// Write one byte of the data area at `off` (mod size) in both copies.
    fn put(&self, off: usize, b: u8) {
        let off = off % self.size;
        unsafe {
            *self.data.add(off) = b;
            *self.data.add(off + self.size) = b;
        }
    }

    fn header(&self, off: usize) -> &AtomicU32 {
        unsafe { &*self.data.add(off % self.size).cast::<AtomicU32>() }
    }

    /// Reserve and write a record; `flags`: BUSY (not committed yet) or
    /// DISCARD. Returns its position.
    fn push(&self, payload: &[u8], flags: u32) -> usize {
        let at = self.prod.load(Ordering::Relaxed);
        for (i, b) in payload.iter().enumerate() {
            self.put(at + HDR + i, *b);
        }
        self.header(at).store(payload.len() as u32 | flags, Ordering::Release);
        self.prod.store(at + (HDR + payload.len()).next_multiple_of(8), Ordering::Release);
        at
    }

    fn commit(&self, at: usize) {
        self.header(at).fetch_and(!BUSY, Ordering::AcqRel);
    }

    fn consumer(&self) -> usize {
        self.cons.load(Ordering::Acquire)
    }
}

fn drain_all(ring: &mut Ring) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let n = ring.drain(|r| got.push(r.to_vec()));
    assert_eq!(n, got.len(), "the count returned is the records handed over");
    got
}

#[test]
fn records_come_in_order_and_discarded_ones_are_skipped() {
    let f = Fake::new(4096);
    let mut ring = f.ring(64 * 1024);
    f.push(b"first", 0);
    f.push(b"dropped by its program", DISCARD);
    f.push(b"third record", 0);
    assert_eq!(drain_all(&mut ring), vec![b"first".to_vec(), b"third record".to_vec()]);
    assert_eq!(f.consumer(), f.prod.load(Ordering::Relaxed), "a drain that caught up publishes its position");
    assert!(drain_all(&mut ring).is_empty());
}

#[test]
fn a_record_still_being_written_stops_the_drain_until_it_is_committed() {
    let f = Fake::new(4096);
    let mut ring = f.ring(64 * 1024);
    f.push(b"a", 0);
    let busy = f.push(b"b", BUSY);
    f.push(b"c", 0);
    assert_eq!(drain_all(&mut ring), vec![b"a".to_vec()]);
    assert_eq!(f.consumer(), busy, "published up to the busy record, not past it");
    f.commit(busy);
    assert_eq!(drain_all(&mut ring), vec![b"b".to_vec(), b"c".to_vec()]);
}

#[test]
fn a_record_that_wraps_past_the_end_reads_as_one_slice() {
    let f = Fake::new(128);
    let mut ring = f.ring(64 * 1024);
    // 80 bytes in (two 40-byte slots), then a 40-byte payload from 88 to 128+.
    f.push(&[1; 32], 0);
    f.push(&[2; 32], 0);
    assert_eq!(drain_all(&mut ring).len(), 2);
    f.push(&[3; 32], 0);
    let payload: Vec<u8> = (0..40).collect();
    f.push(&payload, 0);
    let got = drain_all(&mut ring);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], payload, "the second copy of the data pages continues the first");
}

#[test]
fn within_a_long_drain_the_position_is_published_every_step() {
    // Wake-up threshold 256 bytes: published at least every 64 bytes read.
    let f = Fake::new(4096);
    let mut ring = f.ring(256);
    let starts: Vec<usize> = (0..40).map(|i| f.push(&[i as u8; 24], 0)).collect();
    let mut seen = Vec::new();
    ring.drain(|r| seen.push((r[0] as usize, f.consumer())));
    assert_eq!(seen.len(), 40);
    let mut publishes = 0;
    for w in seen.windows(2) {
        publishes += usize::from(w[1].1 != w[0].1);
    }
    for (i, published) in seen {
        assert!(published <= starts[i], "never published past a record being read");
        assert!(starts[i] - published <= 64 + 32, "record {i} at {} read with {published} published", starts[i]);
    }
    assert!((10..=20).contains(&publishes), "about one publish per 64 bytes, not per record: {publishes}");
    assert_eq!(f.consumer(), f.prod.load(Ordering::Relaxed));
}

#[test]
fn with_no_wake_up_threshold_every_record_is_published() {
    // --wakeup-kib 0: the probes pass no flags and the kernel wakes the reader
    // when the position it reads equals the new record's, so it must be current.
    let f = Fake::new(4096);
    let mut ring = f.ring(0);
    let starts: Vec<usize> = (0..5).map(|i| f.push(&[i as u8; 10], 0)).collect();
    let mut seen = Vec::new();
    ring.drain(|r| seen.push((r[0] as usize, f.consumer())));
    for (i, published) in seen {
        assert_eq!(published, starts[i], "record {i} read with the position just before it published");
    }
}
