//! The path-compressed byte trie of the rule index (`index.rs`): one walk over
//! a value's first (or, for suffixes, last) bytes names every pattern it starts
//! (ends) with. Single-child chains are edge segments, and wide nodes have a
//! byte-indexed table.

/// A node of the path-compressed trie: the edge into it is its first byte (the
/// parent's label) followed by `seg` (bytes no pattern branches or ends inside).
#[derive(Debug, Default)]
pub(crate) struct TrieNode {
    /// Children: `labels[first..first + n]`, targets alike.
    first: u32,
    pub(crate) n: u32,
    /// The rest of the edge into this node: `segs[seg..seg + nseg]`.
    seg: u32,
    nseg: u32,
    /// Rule positions whose pattern ends here: `hits[hit..hit + nhits]`.
    hit: u32,
    nhits: u32,
    /// A node with more than [`DENSE_MIN`] children also has a byte-indexed
    /// table, `dense[dense - 1]` (0: none).
    pub(crate) dense: u32,
}

/// Children past which a node gets a 256-entry table: a suffix trie's root and
/// the byte after `/` have dozens, and a linear label search there was the
/// hottest loop of the index walk (perf annotate).
pub(crate) const DENSE_MIN: usize = 8;

/// `(pattern bytes, rule position)` pairs a trie is built from.
pub(crate) type TriePats = Vec<(Vec<u8>, u32)>;

/// A byte trie whose single-child chains are collapsed into edge segments, so a walk
/// pays the dependent node loads only where patterns branch or end, and compares the
/// bytes in between in a plain loop (paths share long runs such as `/usr/lib/`).
#[derive(Debug, Default)]
pub(crate) struct Trie {
    pub(crate) nodes: Vec<TrieNode>,
    labels: Vec<u8>,
    targets: Vec<u32>,
    segs: Vec<u8>,
    hits: Vec<u32>,
    /// Child node index + 1 by byte (0: no child), for wide nodes.
    pub(crate) dense: Vec<[u32; 256]>,
}

impl Trie {
    /// Build from `(pattern bytes, rule position)` pairs.
    pub(crate) fn build(pats: &TriePats) -> Trie {
        // A pointer trie first, compressed and flattened breadth-first afterwards.
        let mut kids: Vec<std::collections::BTreeMap<u8, usize>> = vec![Default::default()];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new()];
        for (p, pos) in pats {
            let mut n = 0;
            for &b in p {
                n = match kids[n].get(&b) {
                    Some(&c) => c,
                    None => {
                        kids.push(Default::default());
                        ends.push(Vec::new());
                        let c = kids.len() - 1;
                        kids[n].insert(b, c);
                        c
                    }
                };
            }
            if !ends[n].contains(pos) {
                ends[n].push(*pos);
            }
        }
        // Follow the edge entering `c`: while a node has one child and no pattern
        // ends there, its child's byte joins the segment. Returns (segment, last node).
        let chain = |mut c: usize| {
            let mut seg = Vec::new();
            while ends[c].is_empty() && kids[c].len() == 1 {
                let (&b, &next) = kids[c].iter().next().expect("one child");
                seg.push(b);
                c = next;
            }
            (seg, c)
        };
        let mut t = Trie::default();
        // Breadth-first over the compressed nodes: (pointer node, segment into it).
        let mut order: Vec<(usize, Vec<u8>)> = vec![(0, Vec::new())];
        let mut i = 0;
        while i < order.len() {
            let n = order[i].0;
            let first = t.labels.len() as u32;
            for (&b, &c) in &kids[n] {
                let (seg, end) = chain(c);
                t.labels.push(b);
                t.targets.push(order.len() as u32);
                order.push((end, seg));
            }
            let (seg, nseg) = (t.segs.len() as u32, order[i].1.len() as u32);
            t.segs.extend_from_slice(&order[i].1);
            let hit = t.hits.len() as u32;
            t.hits.extend(&ends[n]);
            let mut dense = 0;
            if kids[n].len() > DENSE_MIN {
                let mut table = [0u32; 256];
                for k in first as usize..t.labels.len() {
                    table[t.labels[k] as usize] = t.targets[k] + 1;
                }
                t.dense.push(table);
                dense = t.dense.len() as u32;
            }
            let nhits = ends[n].len() as u32;
            t.nodes.push(TrieNode { first, n: kids[n].len() as u32, seg, nseg, hit, nhits, dense });
            i += 1;
        }
        t
    }

    /// Call `f` with the positions of every pattern that `bytes` starts with.
    #[inline]
    pub(crate) fn walk(&self, mut bytes: impl Iterator<Item = u8>, mut f: impl FnMut(u32)) {
        let mut node = &self.nodes[0];
        while let Some(b) = bytes.next() {
            let next = if node.dense != 0 {
                match self.dense[node.dense as usize - 1][b as usize] {
                    0 => return,
                    t => t - 1,
                }
            } else {
                let (first, n) = (node.first as usize, node.n as usize);
                let Some(k) = self.labels[first..first + n].iter().position(|&x| x == b) else {
                    return;
                };
                self.targets[first + k]
            };
            node = &self.nodes[next as usize];
            let (seg, nseg) = (node.seg as usize, node.nseg as usize);
            for &want in &self.segs[seg..seg + nseg] {
                if bytes.next() != Some(want) {
                    return;
                }
            }
            let (hit, nhits) = (node.hit as usize, node.nhits as usize);
            self.hits[hit..hit + nhits].iter().for_each(|&p| f(p));
        }
    }
}
