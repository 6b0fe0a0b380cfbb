//! Tests of the on-disk spool: persistence across reopen, acks, eviction by
//! priority, compaction within the size limit, corrupt and torn records.
use std::{path::Path, time::Duration};

use super::{scan, FsyncPolicy, RecordMeta, Spool, SpoolConfig, SpoolError, HEADER};

fn cfg(dir: &Path, max_bytes: u64, segment_bytes: u64) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes,
        segment_bytes,
        max_record_bytes: 4096,
        fsync: FsyncPolicy::Always,
        fsync_interval: Duration::from_secs(1),
    }
}

/// Test bodies: `seq rank` as text, padded to `len` bytes.
fn body(seq: u64, rank: u8, len: usize) -> Vec<u8> {
    let mut b = format!("{seq} {rank} ").into_bytes();
    b.resize(len.max(b.len()), b'.');
    b
}

fn meta(b: &[u8]) -> Result<RecordMeta, String> {
    let s = std::str::from_utf8(b).map_err(|e| e.to_string())?;
    let mut it = s.split(' ');
    let seq = it.next().and_then(|x| x.parse().ok()).ok_or("no seq")?;
    let rank = it.next().and_then(|x| x.parse().ok()).ok_or("no rank")?;
    Ok(RecordMeta { seq, rank, rule: format!("rule-{rank}") })
}

fn open(c: &SpoolConfig) -> (Spool, super::LoadReport) {
    Spool::open(c.clone(), meta).unwrap()
}

fn add(sp: &mut Spool, rank: u8, len: usize) -> Result<(u64, Vec<u64>), SpoolError> {
    let seq = sp.alloc_seq();
    let b = body(seq, rank, len);
    let ev = sp.append(&b, &RecordMeta { seq, rank, rule: format!("rule-{rank}") })?;
    Ok((seq, ev.into_iter().map(|e| e.seq).collect()))
}

fn live(sp: &Spool) -> Vec<u64> {
    let mut v = Vec::new();
    let mut cur = None;
    while let Some(s) = sp.next_after(cur) {
        v.push(s);
        cur = Some(s);
    }
    v
}

#[test]
fn survives_reopen_and_forgets_acked() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 1 << 20, 1024);
    let (mut sp, _) = open(&c);
    for _ in 0..20 {
        add(&mut sp, 5, 100).unwrap();
    }
    sp.commit().unwrap();
    assert_eq!(sp.read(3).unwrap(), body(3, 5, 100));
    for s in [1, 2, 3, 10] {
        assert!(sp.remove(s).unwrap());
    }
    assert!(!sp.remove(2).unwrap(), "second removal is a no-op");
    sp.close().unwrap();
    // Locked while open.
    assert!(matches!(Spool::open(c.clone(), meta), Err(SpoolError::Locked(_))));
    drop(sp);
    let (mut sp, rep) = open(&c);
    assert_eq!(rep.records, 16);
    assert_eq!(rep.corrupt, 0);
    let l = live(&sp);
    assert_eq!(l.first(), Some(&4));
    assert!(!l.contains(&10));
    assert_eq!(sp.read(20).unwrap(), body(20, 5, 100));
    // New records continue the sequence.
    assert_eq!(add(&mut sp, 5, 10).unwrap().0, 21);
    // Acking everything leaves (almost) nothing on disk.
    for s in live(&sp) {
        sp.remove(s).unwrap();
    }
    sp.commit().unwrap();
    assert!(sp.disk_bytes() <= 1024, "{} bytes left", sp.disk_bytes());
}

#[test]
fn reads_records_still_in_the_write_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sp, _) = open(&cfg(dir.path(), 1 << 20, 1 << 16));
    let (s, _) = add(&mut sp, 2, 50).unwrap();
    assert_eq!(sp.read(s).unwrap(), body(s, 2, 50));
    sp.commit().unwrap();
    assert_eq!(sp.read(s).unwrap(), body(s, 2, 50));
}

#[test]
fn overflow_evicts_oldest_lower_priority_first() {
    let dir = tempfile::tempdir().unwrap();
    let rec = 200usize;
    let size = (HEADER + rec) as u64;
    let c = cfg(dir.path(), 10 * size, 3 * size);
    let (mut sp, _) = open(&c);
    // Ranks: 7 (Debug) ×3, 4 (Warning) ×3, 2 (Critical) ×4 → full.
    let mut seqs = Vec::new();
    for rank in [7, 4, 7, 2, 4, 7, 2, 4, 2, 2] {
        seqs.push(add(&mut sp, rank, rec).unwrap().0);
        sp.commit().unwrap();
    }
    assert!(sp.disk_bytes() <= 10 * size);
    // A Notice (5) evicts Debug records only, oldest first.
    let (_, ev) = add(&mut sp, 5, rec).unwrap();
    assert_eq!(ev.first(), Some(&seqs[0]), "oldest Debug first");
    assert!(ev.iter().all(|s| [seqs[0], seqs[2], seqs[5]].contains(s)), "{ev:?}");
    sp.commit().unwrap();
    assert!(sp.disk_bytes() <= 10 * size, "{} > limit", sp.disk_bytes());
    // Fill with Critical until only Critical/Emergency remain evictable…
    for _ in 0..20 {
        match add(&mut sp, 2, rec) {
            Ok(_) => sp.commit().unwrap(),
            Err(SpoolError::Full { .. }) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sp.disk_bytes() <= 10 * size, "{} > limit", sp.disk_bytes());
    }
    let by = sp.counts_by_rank();
    assert_eq!(by.get(&7), None, "Debug all evicted: {by:?}");
    assert_eq!(by.get(&5), None, "Notice evicted by Critical: {by:?}");
    // …then an equal-priority alert is refused and a higher one evicts a Critical.
    assert!(matches!(add(&mut sp, 2, rec), Err(SpoolError::Full { .. })));
    let (_, ev) = add(&mut sp, 0, rec).unwrap();
    assert!(!ev.is_empty());
    assert!(sp.disk_bytes() <= 10 * size);
    // Evictions are persistent.
    sp.close().unwrap();
    let n = sp.live_records();
    drop(sp);
    let (sp, rep) = open(&c);
    assert_eq!(rep.records, n);
    assert_eq!(sp.counts_by_rank().get(&7), None);
}

#[test]
fn too_large_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sp, _) = open(&cfg(dir.path(), 1 << 20, 1 << 16));
    assert!(matches!(add(&mut sp, 1, 5000), Err(SpoolError::TooLarge { .. })));
}

#[test]
fn corrupt_and_torn_records_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 1 << 20, 1 << 16);
    let (mut sp, _) = open(&c);
    for _ in 0..10 {
        add(&mut sp, 3, 100).unwrap();
    }
    sp.close().unwrap();
    drop(sp);
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let rec = HEADER + 100;
    bytes[2 * rec + HEADER + 5] ^= 0xff; // body of record 3: checksum mismatch
    bytes[5 * rec] = b'X'; // magic of record 6
    bytes.extend_from_within(..HEADER + 10); // torn tail
    std::fs::write(&seg, &bytes).unwrap();
    let (sp, rep) = open(&c);
    assert_eq!(rep.corrupt, 3, "{rep:?}");
    assert_eq!(live(&sp), vec![1, 2, 4, 5, 7, 8, 9, 10]);
    assert_eq!(sp.read(7).unwrap(), body(7, 3, 100));
    drop(sp);
    // The bad bytes were compacted away: a second load is clean.
    let (sp, rep) = open(&c);
    assert_eq!((rep.records, rep.corrupt), (8, 0));
    drop(sp);
    // A record whose body the decoder rejects is corrupt too.
    let (mut sp, _) = open(&c);
    let seq = sp.alloc_seq();
    sp.append(b"not a record", &RecordMeta { seq, rank: 1, rule: "r".into() }).unwrap();
    sp.close().unwrap();
    drop(sp);
    let (_, rep) = open(&c);
    assert_eq!((rep.records, rep.corrupt), (8, 1));
}

#[test]
fn scan_resynchronises_on_magic() {
    let mut buf = b"garbage".to_vec();
    let good = b"11 2 x";
    buf.extend_from_slice(b"LNRS");
    buf.extend_from_slice(&(good.len() as u32).to_be_bytes());
    buf.extend_from_slice(&crc32fast::hash(good).to_be_bytes());
    buf.extend_from_slice(good);
    let (ok, bad) = scan(&buf, 100);
    assert_eq!(ok, vec![(7usize, &good[..])]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, 0);
}
