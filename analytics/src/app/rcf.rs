//! A streaming random cut forest (Guha, Mishra, Roy, Schrijvers, "Robust Random Cut
//! Forest Based Anomaly Detection on Streams", ICML 2016): the model behind
//! `RANDOM_CUT_FOREST`.
//!
//! - Each row's numeric values (the last `shingle` rows' values, concatenated, once
//!   `shingle` rows have come) are one point.
//! - Each tree keeps a sample of at most `sample` points, chosen with an exponential
//!   time decay: the point of row `t` gets the key `t / decay + G` (`G` a Gumbel draw)
//!   and a tree keeps the points of largest key, which samples rows with weights
//!   proportional to `e^(t / decay)` (recent rows are favoured; a row `decay` rows old
//!   counts `1/e` as much as a new one).
//! - A tree is a random cut tree over its sample, kept exactly under insertions and
//!   deletions: a new point descends from the root; at each node a cut is drawn over the
//!   box of the node's points and the new point (a dimension chosen with probability
//!   proportional to its extent, a value uniform in it); if the cut separates the new
//!   point from the node's box, the point becomes a leaf beside the node, otherwise it
//!   goes on into the child on its side.
//! - The anomaly score of a row is the average over trees of the point's
//!   **codisplacement** in the tree it was inserted into: the largest, over the nodes on
//!   the path from its leaf to the root, of (points in the sibling subtree) / (points in
//!   the subtree holding it). A point far from the others is cut off near the root, so
//!   a large subtree is displaced by a small one: a high score. Scores go from 0 (the
//!   first point, or rows before the first shingle is complete) up to `sample`.
//!   Each point is scored, then kept in a tree only if its key wins a place in that
//!   tree's sample.
//! - Explanations (`RANDOM_CUT_FOREST_WITH_EXPLANATION`): each tree's score is split
//!   over the dimensions in proportion to the gap between the box of the point's side
//!   and its sibling's box at the node where the codisplacement is reached, signed by
//!   which side lies higher; averaged over trees, the parts add up to the score.
//!
//! Invariants: everything random comes from one splitmix64 generator seeded by the
//! caller, consumed in row order, so the same rows give the same scores; the forest's
//! whole state (trees, samples, generator, shingle) serialises to bytes
//! ([`Forest::to_bytes`], format in docs/format.md) and a restored forest continues
//! exactly as the original would have. Floating-point values are stored as their bits.
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use crate::error::{Error, Result};

const NONE: u32 = u32::MAX;
/// The bytes a serialised forest starts with.
const MAGIC: &[u8; 4] = b"RCF1";

/// splitmix64: a small, fast generator whose whole state is one `u64`.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1).
    fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Free,
    Leaf,
    Internal,
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    parent: u32,
    left: u32,
    right: u32,
    dim: u32,
    cut: f64,
    /// Points under the node (a leaf: copies of its point).
    mass: u32,
    /// The box of the node's points (a leaf: its point, `lo == hi`).
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Node {
    fn free() -> Self {
        Node {
            kind: Kind::Free,
            parent: NONE,
            left: NONE,
            right: NONE,
            dim: 0,
            cut: 0.0,
            mass: 0,
            lo: Vec::new(),
            hi: Vec::new(),
        }
    }
}

/// One random cut tree and its sample.
#[derive(Debug, Clone, Default)]
struct Tree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    /// (key, leaf) of each sampled point (a leaf appears once per copy).
    sample: Vec<(f64, u32)>,
}

impl Tree {
    fn new() -> Self {
        Tree {
            root: NONE,
            ..Tree::default()
        }
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, i: u32) {
        self.nodes[i as usize] = Node::free();
        self.free.push(i);
    }

    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NONE {
            self.root = new;
        } else {
            let p = &mut self.nodes[parent as usize];
            if p.left == old {
                p.left = new;
            } else {
                p.right = new;
            }
        }
        self.nodes[new as usize].parent = parent;
    }

    /// Inserts `p`; returns its leaf.
    fn insert(&mut self, p: &[f64], rng: &mut Rng) -> u32 {
        if self.root == NONE {
            let leaf = self.alloc(Node {
                kind: Kind::Leaf,
                mass: 1,
                lo: p.to_vec(),
                hi: p.to_vec(),
                ..Node::free()
            });
            self.root = leaf;
            return leaf;
        }
        let mut n = self.root;
        loop {
            let node = &self.nodes[n as usize];
            if node.kind == Kind::Leaf && node.lo == p {
                // Another copy of a sampled point.
                let mut a = n;
                while a != NONE {
                    self.nodes[a as usize].mass += 1;
                    a = self.nodes[a as usize].parent;
                }
                return n;
            }
            let lo: Vec<f64> = node.lo.iter().zip(p).map(|(a, b)| a.min(*b)).collect();
            let hi: Vec<f64> = node.hi.iter().zip(p).map(|(a, b)| a.max(*b)).collect();
            let span: f64 = lo.iter().zip(&hi).map(|(a, b)| b - a).sum();
            let mut r = rng.unit() * span;
            let mut dim = 0;
            let mut cut = lo[0];
            for d in 0..lo.len() {
                let extent = hi[d] - lo[d];
                if r < extent || d == lo.len() - 1 {
                    dim = d;
                    cut = lo[d] + r.min(extent);
                    break;
                }
                r -= extent;
            }
            let p_left = p[dim] <= cut;
            let mut separated = if p_left {
                node.lo[dim] > cut
            } else {
                node.hi[dim] <= cut
            };
            if !separated && node.kind == Kind::Leaf {
                // Rounding put the cut on the wrong side of both: cut at the smaller
                // value of the dimension where they differ most.
                let (d, _) = p
                    .iter()
                    .zip(&node.lo)
                    .map(|(a, b)| (a - b).abs())
                    .enumerate()
                    .fold(
                        (0, -1.0),
                        |best, (d, g)| if g > best.1 { (d, g) } else { best },
                    );
                dim = d;
                cut = p[d].min(node.lo[d]);
                separated = true;
            }
            if separated {
                let p_left = p[dim] <= cut;
                let parent = node.parent;
                let mass = node.mass + 1;
                let leaf = self.alloc(Node {
                    kind: Kind::Leaf,
                    mass: 1,
                    lo: p.to_vec(),
                    hi: p.to_vec(),
                    ..Node::free()
                });
                let (left, right) = if p_left { (leaf, n) } else { (n, leaf) };
                let internal = self.alloc(Node {
                    kind: Kind::Internal,
                    parent: NONE,
                    left,
                    right,
                    dim: dim as u32,
                    cut,
                    mass,
                    lo,
                    hi,
                });
                self.replace_child(parent, n, internal);
                self.nodes[leaf as usize].parent = internal;
                self.nodes[n as usize].parent = internal;
                let mut a = parent;
                while a != NONE {
                    let node = &mut self.nodes[a as usize];
                    node.mass += 1;
                    for ((lo, hi), v) in node.lo.iter_mut().zip(&mut node.hi).zip(p) {
                        *lo = lo.min(*v);
                        *hi = hi.max(*v);
                    }
                    a = node.parent;
                }
                return leaf;
            }
            n = if p[node.dim as usize] <= node.cut {
                node.left
            } else {
                node.right
            };
        }
    }

    /// Removes one copy of `leaf`'s point.
    fn delete(&mut self, leaf: u32) {
        let node = &mut self.nodes[leaf as usize];
        node.mass -= 1;
        if node.mass > 0 {
            let mut a = node.parent;
            while a != NONE {
                self.nodes[a as usize].mass -= 1;
                a = self.nodes[a as usize].parent;
            }
            return;
        }
        let parent = node.parent;
        self.release(leaf);
        if parent == NONE {
            self.root = NONE;
            return;
        }
        let p = &self.nodes[parent as usize];
        let sibling = if p.left == leaf { p.right } else { p.left };
        let grand = p.parent;
        self.replace_child(grand, parent, sibling);
        self.release(parent);
        let mut a = grand;
        while a != NONE {
            self.nodes[a as usize].mass -= 1;
            self.refit(a);
            a = self.nodes[a as usize].parent;
        }
    }

    /// Sets an internal node's box to its children's.
    fn refit(&mut self, i: u32) {
        let (l, r) = {
            let n = &self.nodes[i as usize];
            (n.left as usize, n.right as usize)
        };
        let lo: Vec<f64> = self.nodes[l]
            .lo
            .iter()
            .zip(&self.nodes[r].lo)
            .map(|(a, b)| a.min(*b))
            .collect();
        let hi: Vec<f64> = self.nodes[l]
            .hi
            .iter()
            .zip(&self.nodes[r].hi)
            .map(|(a, b)| a.max(*b))
            .collect();
        let n = &mut self.nodes[i as usize];
        n.lo = lo;
        n.hi = hi;
    }

    /// The codisplacement of `leaf`'s point, and the (node holding it, sibling) pair
    /// where it is reached (`None` for a lone point).
    fn codisp(&self, leaf: u32) -> (f64, Option<(u32, u32)>) {
        let mut best = (0.0f64, None);
        let mut n = leaf;
        loop {
            let parent = self.nodes[n as usize].parent;
            if parent == NONE {
                return best;
            }
            let p = &self.nodes[parent as usize];
            let sibling = if p.left == n { p.right } else { p.left };
            let ratio =
                self.nodes[sibling as usize].mass as f64 / self.nodes[n as usize].mass as f64;
            if ratio > best.0 {
                best = (ratio, Some((n, sibling)));
            }
            n = parent;
        }
    }

    /// Adds `score`'s attribution to `attr` and `signed`, per dimension: in proportion
    /// to the gap between the box holding the point and its sibling's box at the node
    /// where the codisplacement is reached (the dimensions that set the point apart);
    /// `signed` counts it positive where the point's side lies above the sibling's.
    fn attribute(&self, score: f64, at: (u32, u32), attr: &mut [f64], signed: &mut [f64]) {
        let (n, s) = (&self.nodes[at.0 as usize], &self.nodes[at.1 as usize]);
        let gaps: Vec<(f64, f64)> = (0..attr.len())
            .map(|d| {
                let above = (n.lo[d] - s.hi[d]).max(0.0);
                let below = (s.lo[d] - n.hi[d]).max(0.0);
                (above + below, if above >= below { 1.0 } else { -1.0 })
            })
            .collect();
        let total: f64 = gaps.iter().map(|g| g.0).sum();
        for (d, (gap, sign)) in gaps.into_iter().enumerate() {
            let share = if total > 0.0 {
                score * gap / total
            } else {
                score / attr.len() as f64
            };
            attr[d] += share;
            signed[d] += share * sign;
        }
    }
}

/// A score split over the dimensions of the point: (attribution, signed attribution),
/// each summing to the score over dimensions (signed: positive where the point is high).
pub type Explanation = (Vec<f64>, Vec<f64>);

/// A streaming random cut forest (see the module doc).
#[derive(Debug, Clone)]
pub struct Forest {
    trees: Vec<Tree>,
    sample: usize,
    decay: u64,
    shingle: usize,
    /// Values per row.
    dims: usize,
    rng: Rng,
    /// Points scored so far (the time of the next one).
    seen: u64,
    /// The last `shingle` rows' values, oldest first.
    recent: VecDeque<Vec<f64>>,
}

impl Forest {
    /// An empty forest of `trees` trees sampling `sample` points each, for rows of
    /// `dims` values.
    pub fn new(
        trees: usize,
        sample: usize,
        decay: u64,
        shingle: usize,
        dims: usize,
        seed: u64,
    ) -> Self {
        Forest {
            trees: (0..trees).map(|_| Tree::new()).collect(),
            sample,
            decay,
            shingle,
            dims,
            rng: Rng(seed),
            seen: 0,
            recent: VecDeque::new(),
        }
    }

    /// Scores a row's values (`dims` finite numbers) and learns them: the row's
    /// anomaly score (0 until `shingle` rows have come).
    pub fn update(&mut self, values: &[f64]) -> f64 {
        self.learn(values, false).0
    }

    /// [`update`](Self::update), and the score's attribution to each of the row's
    /// values (summed over the shingle's rows): `dims` numbers adding up to the score.
    pub fn update_explained(&mut self, values: &[f64]) -> (f64, Explanation) {
        let (score, explanation) = self.learn(values, true);
        let (attr, signed) = explanation.unwrap_or_default();
        let mut per_column = (vec![0.0; self.dims], vec![0.0; self.dims]);
        for (i, (a, s)) in attr.iter().zip(&signed).enumerate() {
            per_column.0[i % self.dims] += a;
            per_column.1[i % self.dims] += s;
        }
        (score, per_column)
    }

    fn learn(&mut self, values: &[f64], explain: bool) -> (f64, Option<Explanation>) {
        self.recent.push_back(values.to_vec());
        if self.recent.len() > self.shingle {
            self.recent.pop_front();
        }
        if self.recent.len() < self.shingle {
            return (0.0, None);
        }
        let point: Vec<f64> = self.recent.iter().flatten().copied().collect();
        let mut attr = vec![0.0; if explain { point.len() } else { 0 }];
        let mut signed = attr.clone();
        let t = self.seen as f64 / self.decay as f64;
        self.seen += 1;
        let mut total = 0.0;
        for tree in &mut self.trees {
            let key = t - (-self.rng.open_unit().ln()).ln();
            let leaf = tree.insert(&point, &mut self.rng);
            let (score, at) = tree.codisp(leaf);
            total += score;
            if let (true, Some(at)) = (explain, at) {
                tree.attribute(score, at, &mut attr, &mut signed);
            }
            if tree.sample.len() < self.sample {
                tree.sample.push((key, leaf));
                continue;
            }
            let (at, &(lowest, old)) = tree
                .sample
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.0.total_cmp(&b.1.0).then(a.0.cmp(&b.0)))
                .expect("a full sample is not empty");
            if key > lowest {
                tree.delete(old);
                tree.sample[at] = (key, leaf);
            } else {
                tree.delete(leaf);
            }
        }
        let trees = self.trees.len() as f64;
        let explanation = explain.then(|| {
            (
                attr.iter().map(|a| a / trees).collect(),
                signed.iter().map(|a| a / trees).collect(),
            )
        });
        (total / trees, explanation)
    }

    /// The forest's whole state as bytes (docs/format.md, "Analytics applications").
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(MAGIC);
        for v in [
            self.trees.len() as u64,
            self.sample as u64,
            self.decay,
            self.shingle as u64,
            self.dims as u64,
            self.rng.0,
            self.seen,
            self.recent.len() as u64,
        ] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        for row in &self.recent {
            for v in row {
                w.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        for tree in &self.trees {
            put_u32(&mut w, tree.root);
            put_u32(&mut w, tree.nodes.len() as u32);
            for n in &tree.nodes {
                w.push(match n.kind {
                    Kind::Free => 0,
                    Kind::Leaf => 1,
                    Kind::Internal => 2,
                });
                match n.kind {
                    Kind::Free => {}
                    Kind::Leaf => {
                        put_u32(&mut w, n.parent);
                        put_u32(&mut w, n.mass);
                        for v in &n.lo {
                            w.extend_from_slice(&v.to_bits().to_le_bytes());
                        }
                    }
                    Kind::Internal => {
                        put_u32(&mut w, n.parent);
                        put_u32(&mut w, n.left);
                        put_u32(&mut w, n.right);
                        put_u32(&mut w, n.dim);
                        w.extend_from_slice(&n.cut.to_bits().to_le_bytes());
                        put_u32(&mut w, n.mass);
                    }
                }
            }
            put_u32(&mut w, tree.free.len() as u32);
            for &f in &tree.free {
                put_u32(&mut w, f);
            }
            put_u32(&mut w, tree.sample.len() as u32);
            for &(key, leaf) in &tree.sample {
                w.extend_from_slice(&key.to_bits().to_le_bytes());
                put_u32(&mut w, leaf);
            }
        }
        w
    }

    /// Restores [`to_bytes`](Self::to_bytes) into this forest, whose parameters must be
    /// the saved one's.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<()> {
        let bad = |why: &str| Error::State(format!("the checkpoint's forest state: {why}"));
        let mut r = Reader { bytes, at: 0 };
        if r.take(4).ok_or_else(|| bad("too short"))? != MAGIC {
            return Err(bad("bad magic"));
        }
        let mut head = [0u64; 8];
        for h in &mut head {
            *h = r.u64().ok_or_else(|| bad("too short"))?;
        }
        let [trees, sample, decay, shingle, dims, rng, seen, recent] = head;
        if (trees, sample, decay, shingle, dims)
            != (
                self.trees.len() as u64,
                self.sample as u64,
                self.decay,
                self.shingle as u64,
                self.dims as u64,
            )
        {
            return Err(bad(
                "its parameters (trees, sample, decay, shingle, columns) are not the pump's",
            ));
        }
        if recent > shingle {
            return Err(bad("too many shingle rows"));
        }
        let dims = self.dims;
        let point_dims = dims * self.shingle;
        let mut rows = VecDeque::new();
        for _ in 0..recent {
            rows.push_back(r.f64s(dims).ok_or_else(|| bad("too short"))?);
        }
        let mut out = Vec::with_capacity(trees as usize);
        for _ in 0..trees {
            let root = r.u32().ok_or_else(|| bad("too short"))?;
            let count = r.u32().ok_or_else(|| bad("too short"))? as usize;
            let mut nodes = Vec::with_capacity(count.min(1 << 20));
            for _ in 0..count {
                let kind = r.take(1).ok_or_else(|| bad("too short"))?[0];
                let node = match kind {
                    0 => Node::free(),
                    1 => {
                        let parent = r.u32().ok_or_else(|| bad("too short"))?;
                        let mass = r.u32().ok_or_else(|| bad("too short"))?;
                        let p = r.f64s(point_dims).ok_or_else(|| bad("too short"))?;
                        Node {
                            kind: Kind::Leaf,
                            parent,
                            mass,
                            lo: p.clone(),
                            hi: p,
                            ..Node::free()
                        }
                    }
                    2 => {
                        let mut v = [0u32; 4];
                        for x in &mut v {
                            *x = r.u32().ok_or_else(|| bad("too short"))?;
                        }
                        let cut = f64::from_bits(r.u64().ok_or_else(|| bad("too short"))?);
                        let mass = r.u32().ok_or_else(|| bad("too short"))?;
                        Node {
                            kind: Kind::Internal,
                            parent: v[0],
                            left: v[1],
                            right: v[2],
                            dim: v[3],
                            cut,
                            mass,
                            ..Node::free()
                        }
                    }
                    _ => return Err(bad("unknown node kind")),
                };
                nodes.push(node);
            }
            let free_count = r.u32().ok_or_else(|| bad("too short"))? as usize;
            let mut free = Vec::with_capacity(free_count.min(1 << 20));
            for _ in 0..free_count {
                free.push(r.u32().ok_or_else(|| bad("too short"))?);
            }
            let sample_count = r.u32().ok_or_else(|| bad("too short"))? as usize;
            let mut samples = Vec::with_capacity(sample_count.min(1 << 20));
            for _ in 0..sample_count {
                let key = f64::from_bits(r.u64().ok_or_else(|| bad("too short"))?);
                samples.push((key, r.u32().ok_or_else(|| bad("too short"))?));
            }
            let mut tree = Tree {
                nodes,
                free,
                root,
                sample: samples,
            };
            check_and_fit(&mut tree, point_dims).map_err(bad)?;
            out.push(tree);
        }
        if r.at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        self.trees = out;
        self.rng = Rng(rng);
        self.seen = seen;
        self.recent = rows;
        Ok(())
    }
}

/// Checks a restored tree's links and sets its internal boxes (children first).
fn check_and_fit(tree: &mut Tree, dims: usize) -> std::result::Result<(), &'static str> {
    let n = tree.nodes.len() as u32;
    let ok = |i: u32| i < n;
    if tree.root != NONE && !ok(tree.root) {
        return Err("a root out of range");
    }
    for f in &tree.free {
        if !ok(*f) || tree.nodes[*f as usize].kind != Kind::Free {
            return Err("a free slot that is not free");
        }
    }
    for &(_, leaf) in &tree.sample {
        if !ok(leaf) || tree.nodes[leaf as usize].kind != Kind::Leaf {
            return Err("a sampled point that is not a leaf");
        }
    }
    // Post-order from the root, each node visited once.
    let mut order = Vec::new();
    let mut seen = vec![false; n as usize];
    let mut stack = Vec::new();
    if tree.root != NONE {
        stack.push((tree.root, NONE, false));
    }
    while let Some((i, parent, expanded)) = stack.pop() {
        let node = &tree.nodes[i as usize];
        if expanded {
            order.push(i);
            continue;
        }
        if seen[i as usize] || node.parent != parent {
            return Err("a node linked twice or to the wrong parent");
        }
        seen[i as usize] = true;
        match node.kind {
            Kind::Free => return Err("a free node in the tree"),
            Kind::Leaf => {
                if node.mass == 0 {
                    return Err("an empty leaf");
                }
                order.push(i);
            }
            Kind::Internal => {
                if !ok(node.left) || !ok(node.right) || node.dim as usize >= dims {
                    return Err("an internal node out of range");
                }
                stack.push((i, parent, true));
                stack.push((node.left, i, false));
                stack.push((node.right, i, false));
            }
        }
    }
    for i in order {
        if tree.nodes[i as usize].kind == Kind::Internal {
            tree.refit(i);
            let (l, r) = (
                tree.nodes[i as usize].left as usize,
                tree.nodes[i as usize].right as usize,
            );
            if tree.nodes[i as usize].mass != tree.nodes[l].mass + tree.nodes[r].mass {
                return Err("a node's count is not its children's");
            }
        }
    }
    Ok(())
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn f64s(&mut self, n: usize) -> Option<Vec<f64>> {
        (0..n).map(|_| self.u64().map(f64::from_bits)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every tree's counts and boxes against its sample.
    fn check(forest: &Forest) {
        for tree in &forest.trees {
            let total: u32 = tree.sample.len() as u32;
            let root_mass = if tree.root == NONE {
                0
            } else {
                tree.nodes[tree.root as usize].mass
            };
            assert_eq!(root_mass, total);
            let mut copy = tree.clone();
            check_and_fit(&mut copy, forest.dims * forest.shingle).unwrap();
            for (a, b) in copy.nodes.iter().zip(&tree.nodes) {
                assert_eq!(a.lo, b.lo);
                assert_eq!(a.hi, b.hi);
            }
        }
    }

    #[test]
    fn trees_stay_consistent_and_state_round_trips() {
        let mut a = Forest::new(7, 16, 40, 2, 2, 42);
        let mut x = Rng(7);
        let mut scores = Vec::new();
        for i in 0..300 {
            // Some duplicates, to exercise leaves with several copies.
            let v = if i % 10 == 0 {
                vec![1.0, 2.0]
            } else {
                vec![x.unit(), x.unit() * 3.0]
            };
            scores.push(a.update(&v));
            if i % 37 == 0 {
                check(&a);
            }
        }
        assert!(scores.iter().all(|s| s.is_finite() && *s >= 0.0));
        let saved = a.to_bytes();
        let mut b = Forest::new(7, 16, 40, 2, 2, 0);
        b.restore(&saved).unwrap();
        assert_eq!(b.to_bytes(), saved);
        for _ in 0..100 {
            let v = vec![x.unit(), x.unit()];
            assert_eq!(a.update(&v).to_bits(), b.update(&v).to_bits());
        }
        let mut c = Forest::new(8, 16, 40, 2, 2, 0);
        assert!(c.restore(&saved).is_err());
        let mut d = Forest::new(7, 16, 40, 2, 2, 0);
        assert!(d.restore(&saved[..saved.len() - 3]).is_err());
    }
}
