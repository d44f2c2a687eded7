//! Greedy merging over classes of interchangeable batches: the part of mixed mode that scales.

use super::{Batch, ClassKey, Problem, Summary, EPSILON};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// A merge of two classes `a <= b` in the heap. Gains are positive, and positive f64s order
/// like their bits, so the heap pops the highest gain, then the oldest classes.
type Candidate = (u64, Reverse<(usize, usize)>);

/// No batch: the end of a class's queue.
const NONE: usize = usize::MAX;

/// Batches with one `Summary::key`, and the open ones among them as a queue, oldest first.
struct Class {
    /// The summary of its first batch (all of them cost the same).
    summary: Summary,
    head: usize,
    tail: usize,
    len: usize,
    /// Gained batches since it was last paired.
    touched: bool,
    /// Had open batches when last paired.
    live: bool,
}

/// Open batches grouped by `Summary::key`, for `Problem::merge_classes`. The queues are linked
/// through `next` (one slot per batch), so a class costs no allocation of its own: merging runs
/// once per start in every settings group, and most groups are small.
struct Classes {
    ids: BTreeMap<ClassKey, usize>,
    class: Vec<Class>,
    next: Vec<usize>,
    /// Classes touched since the last pairing, in order.
    touched: Vec<usize>,
    /// Classes that are live.
    live: Vec<usize>,
}

impl Classes {
    fn new(batches: usize) -> Self {
        Classes {
            ids: BTreeMap::new(),
            class: Vec::new(),
            next: vec![NONE; batches],
            touched: Vec::new(),
            live: Vec::new(),
        }
    }

    fn add(&mut self, batch: usize, s: Summary) {
        let next = self.class.len();
        let id = *self.ids.entry(s.key()).or_insert(next);
        if id == next {
            self.class.push(Class {
                summary: s,
                head: NONE,
                tail: NONE,
                len: 0,
                touched: false,
                live: false,
            });
        }
        self.next[batch] = NONE;
        let c = &mut self.class[id];
        if c.len == 0 {
            c.head = batch;
        } else {
            self.next[c.tail] = batch;
        }
        c.tail = batch;
        c.len += 1;
        if !c.touched {
            c.touched = true;
            self.touched.push(id);
        }
    }

    /// The oldest open batch of a class that has one.
    fn pop(&mut self, id: usize) -> usize {
        let c = &mut self.class[id];
        let batch = c.head;
        c.head = self.next[batch];
        c.len -= 1;
        batch
    }
}

impl Problem<'_> {
    /// Greedy merging over classes of interchangeable batches (equal `Summary::key`): take the
    /// pair of classes whose merge saves most, merge as many pairs of their batches at once as
    /// both classes allow, and repeat. Gains depend only on the two keys, so the work grows with
    /// the number of distinct kinds of batch, not with the queue.
    pub(super) fn merge_classes(&self, mut batches: Vec<Batch>) -> Vec<Batch> {
        let mut classes = Classes::new(batches.len());
        for (i, b) in batches.iter().enumerate() {
            if self.fits_more(&b.sum) {
                classes.add(i, b.sum);
            }
        }
        let mut heap = BinaryHeap::new();
        loop {
            // Pair every class that gained batches with every class that has some.
            let touched = std::mem::take(&mut classes.touched);
            if !touched.is_empty() {
                self.pair(&mut classes, &touched, &mut heap);
            }
            let Some((_, Reverse((a, b)))) = heap.pop() else {
                break;
            };
            let pairs = if a == b {
                classes.class[a].len / 2
            } else {
                classes.class[a].len.min(classes.class[b].len)
            };
            for _ in 0..pairs {
                let i = classes.pop(a);
                let j = classes.pop(b);
                let moved = std::mem::take(&mut batches[j].members);
                batches[i].members.extend(moved);
                batches[i].sum = batches[i].sum.add(&batches[j].sum);
                if self.fits_more(&batches[i].sum) {
                    classes.add(i, batches[i].sum);
                }
            }
        }
        batches.retain(|b| !b.members.is_empty());
        batches
    }

    /// Queue the merges that save time between the `touched` classes and every live class.
    fn pair(&self, classes: &mut Classes, touched: &[usize], heap: &mut BinaryHeap<Candidate>) {
        for &a in touched {
            if !classes.class[a].live {
                classes.class[a].live = true;
                classes.live.push(a);
            }
        }
        let Classes { live, class, .. } = classes;
        live.retain(|&c| {
            class[c].live = class[c].len > 0;
            class[c].live
        });
        for &a in touched {
            for &b in &classes.live {
                if classes.class[b].touched && b < a {
                    continue; // paired when `b` came up as touched
                }
                let (sa, sb) = (&classes.class[a].summary, &classes.class[b].summary);
                // Priced as a sequential batch: batches of one class may differ in compat.
                // Should the two merged share one, the batch costs less than planned.
                let merged = Summary {
                    compat: None,
                    ..sa.add(sb)
                };
                if !self.fits(&merged) {
                    continue;
                }
                let gain = self.price(sa) + self.price(sb) - self.price(&merged);
                if gain > EPSILON {
                    heap.push((gain.to_bits(), Reverse((a.min(b), a.max(b)))));
                }
            }
        }
        for &a in touched {
            classes.class[a].touched = false;
        }
    }
}
