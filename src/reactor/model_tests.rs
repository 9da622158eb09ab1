//! Model-based property tests of the reactor's data structures (Miri is not available here;
//! these plus valgrind stand in for it).
//!
//! Each test applies a random sequence of operations to the real structure and to a plain
//! reference model, and checks after every step that both agree:
//!
//! - [`Timers`] (4-ary heap, lazy cancel) against a `Vec` of `(deadline, seq, waker)` sorted on
//!   demand: insert / stage / cancel / reset / refresh / advance-and-fire, with stale keys of
//!   fired and cancelled timers thrown in, and sequence-number wraparound. Checked: return
//!   values, `len`, `next_deadline`, which wakers `fire_due` hands out, in which order
//!   (deadline, then insertion/reset order), and that stale heap items stay within
//!   `2 * live + SLACK`.
//! - [`DirState`] (ticket-ordered FIFO queue, first waiter inline) against one `VecDeque` per
//!   direction: enqueue / requeue of a notified waiter / remove (queued or notified, i.e.
//!   dropped while queued or after being woken) / refresh / on_edge / notify_all / pass_on /
//!   poll wakers / clear. Checked: returned states, which wakers each edge hands out and in
//!   which order, the readiness left behind, and that requeued waiters keep arrival order.
//! - [`Slab`] against a `HashMap<Key, _>`: insert / remove / get / get_mut with stale keys,
//!   `next_key`, `key_at`, `keys`.
//!
//! 256 cases per test by default (`PROPTEST_CASES` overrides). Failures are not persisted to
//! files (that would write into `src/`): proptest prints the minimal failing sequence instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::timers::{SLACK, Timers};
use super::waiters::{DirState, Readiness, Ticket, WaiterState};
use crate::slab::{Key, Slab};

/// How many distinct wakers an operation sequence picks from. Small, so that `will_wake`
/// deduplication and waker refreshes matter; large enough that wake order is visible.
const WAKERS: usize = 12;

fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

struct Nop;

impl Wake for Nop {
    fn wake(self: Arc<Self>) {}
}

/// `WAKERS` distinct wakers; a waker handed out by the structure is identified by `will_wake`.
fn waker_pool() -> Vec<Waker> {
    (0..WAKERS).map(|_| Waker::from(Arc::new(Nop))).collect()
}

/// Which pool wakers `wakes` holds, in order.
fn ids(pool: &[Waker], wakes: &[Waker]) -> Vec<usize> {
    wakes
        .iter()
        .map(|w| {
            pool.iter()
                .position(|p| p.will_wake(w))
                .expect("a waker that is not from the pool")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum TimerOp {
    /// A timer `delta` ms from now, minus 8 ms (so some are already due when set).
    Insert {
        delta: u64,
        waker: usize,
    },
    /// Cancel the `pick`-th key ever handed out (live, fired or cancelled), or with `live`,
    /// the `pick`-th live one (which leaves a stale heap item behind).
    Cancel {
        pick: usize,
        live: bool,
    },
    Reset {
        pick: usize,
        live: bool,
        delta: u64,
    },
    Refresh {
        pick: usize,
        waker: usize,
    },
    /// Move the clock forward `ms` (possibly 0) and fire what is due.
    Advance {
        ms: u64,
    },
    /// Skip the sequence counter to a few armings before it wraps (which renumbers).
    NearWrap,
    /// A timer `after` ms from the clock at the next advance.
    Stage {
        after: u64,
        waker: usize,
    },
}

fn timer_op() -> impl Strategy<Value = TimerOp> {
    prop_oneof![
        4 => (0u64..160, 0..WAKERS).prop_map(|(delta, waker)| TimerOp::Insert { delta, waker }),
        2 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, live)| TimerOp::Cancel { pick, live }),
        2 => (any::<usize>(), any::<bool>(), 0u64..160)
            .prop_map(|(pick, live, delta)| TimerOp::Reset { pick, live, delta }),
        1 => (any::<usize>(), 0..WAKERS).prop_map(|(pick, waker)| TimerOp::Refresh { pick, waker }),
        2 => (0u64..24).prop_map(|ms| TimerOp::Advance { ms }),
        1 => Just(TimerOp::NearWrap),
        2 => (0u64..160, 0..WAKERS).prop_map(|(after, waker)| TimerOp::Stage { after, waker }),
    ]
}

/// One live timer of the model.
#[derive(Clone, Copy, Debug)]
struct ModelTimer {
    deadline: When,
    seq: u64,
    waker: usize,
}

/// A model timer's deadline: known, or staged (`after` from the next advance's clock).
#[derive(Clone, Copy, Debug)]
enum When {
    At(Instant),
    Staged(Duration),
}

impl When {
    fn at(self) -> Option<Instant> {
        match self {
            When::At(t) => Some(t),
            When::Staged(_) => None,
        }
    }
}

/// The history index `pick` names: among all `n` keys, or among the live ones if there are any.
fn pick_key(pick: usize, only_live: bool, n: usize, live: &HashMap<usize, ModelTimer>) -> usize {
    if only_live && !live.is_empty() {
        let mut ids: Vec<usize> = live.keys().copied().collect();
        ids.sort_unstable();
        ids[pick % ids.len()]
    } else {
        pick % n
    }
}

fn check_timers(ops: Vec<TimerOp>) -> Result<(), TestCaseError> {
    let pool = waker_pool();
    let base = Instant::now();
    let mut now = base;
    // An origin well before any deadline the sequence can arm.
    let mut timers = Timers::with_origin(base - Duration::from_secs(3600));
    // Every key handed out, by history index; the model knows the live ones.
    let mut keys: Vec<Key> = Vec::new();
    let mut live: HashMap<usize, ModelTimer> = HashMap::new();
    let mut seq = 0u64;
    let at = |now: Instant, delta: u64| {
        (now + Duration::from_millis(delta))
            .checked_sub(Duration::from_millis(8))
            .unwrap_or(now)
    };
    for op in ops {
        match op {
            TimerOp::Insert { delta, waker } => {
                let deadline = at(now, delta);
                let key = timers.insert(deadline, &pool[waker]);
                prop_assert!(!keys.contains(&key), "a key was handed out twice: {key:?}");
                seq += 1;
                live.insert(
                    keys.len(),
                    ModelTimer {
                        deadline: When::At(deadline),
                        seq,
                        waker,
                    },
                );
                keys.push(key);
            }
            TimerOp::Stage { after, waker } => {
                let after = Duration::from_millis(after);
                let key = timers.stage(after, &pool[waker]);
                prop_assert!(!keys.contains(&key), "a key was handed out twice: {key:?}");
                seq += 1;
                live.insert(
                    keys.len(),
                    ModelTimer {
                        deadline: When::Staged(after),
                        seq,
                        waker,
                    },
                );
                keys.push(key);
            }
            TimerOp::Cancel {
                pick,
                live: only_live,
            } if !keys.is_empty() => {
                let i = pick_key(pick, only_live, keys.len(), &live);
                let expect = live.remove(&i).is_some();
                prop_assert_eq!(
                    timers.cancel(keys[i]).is_some(),
                    expect,
                    "cancel of key #{}",
                    i
                );
            }
            TimerOp::Reset {
                pick,
                live: only_live,
                delta,
            } if !keys.is_empty() => {
                let i = pick_key(pick, only_live, keys.len(), &live);
                let deadline = at(now, delta);
                let expect = match live.get_mut(&i) {
                    Some(t) => {
                        seq += 1;
                        t.deadline = When::At(deadline);
                        t.seq = seq;
                        true
                    }
                    None => false,
                };
                prop_assert_eq!(timers.reset(keys[i], deadline), expect, "reset of #{}", i);
            }
            TimerOp::Refresh { pick, waker } if !keys.is_empty() => {
                let i = pick % keys.len();
                let expect = match live.get_mut(&i) {
                    Some(t) => {
                        t.waker = waker;
                        true
                    }
                    None => false,
                };
                prop_assert_eq!(
                    timers.refresh(keys[i], &pool[waker]).is_some(),
                    expect,
                    "refresh of #{}",
                    i
                );
            }
            TimerOp::Advance { ms } => {
                now += Duration::from_millis(ms);
                for t in live.values_mut() {
                    if let When::Staged(after) = t.deadline {
                        t.deadline = When::At(now + after);
                    }
                }
                let mut due: Vec<(Instant, u64, usize, usize)> = live
                    .iter()
                    .filter_map(|(&i, t)| Some((t.deadline.at()?, t.seq, t.waker, i)))
                    .filter(|d| d.0 <= now)
                    .collect();
                due.sort();
                let mut wakes = Vec::new();
                let fired = timers.fire_due(now, &mut wakes);
                prop_assert_eq!(fired, due.len());
                let expect: Vec<usize> = due.iter().map(|d| d.2).collect();
                prop_assert_eq!(ids(&pool, &wakes), expect, "wake order at {:?}", now - base);
                for (.., i) in &due {
                    live.remove(i);
                    // A fired timer's key is stale: it finds nothing.
                    prop_assert!(timers.refresh(keys[*i], &pool[0]).is_none());
                }
            }
            TimerOp::NearWrap => timers.set_next_seq(u32::MAX - 3),
            // Cancel/reset/refresh with no key handed out yet: nothing to do.
            _ => {}
        }
        prop_assert_eq!(timers.len(), live.len());
        prop_assert!(
            timers.heap_len() <= 2 * live.len() + SLACK,
            "{} heap items for {} timers",
            timers.heap_len(),
            live.len()
        );
        prop_assert_eq!(timers.is_empty(), live.is_empty());
        prop_assert_eq!(
            timers.next_deadline(),
            live.values().filter_map(|t| t.deadline.at()).min()
        );
    }
    // Cancel what is left, in history order: everything goes, nothing is left behind.
    for (i, key) in keys.iter().enumerate() {
        prop_assert_eq!(timers.cancel(*key).is_some(), live.remove(&i).is_some());
    }
    prop_assert!(timers.is_empty());
    prop_assert_eq!(timers.next_deadline(), None);
    let mut wakes = Vec::new();
    prop_assert_eq!(
        timers.fire_due(now + Duration::from_secs(3600), &mut wakes),
        0
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Waiters + DirState
// ---------------------------------------------------------------------------------------------

const DIRS: usize = 3;

#[derive(Clone, Debug)]
enum WaiterOp {
    Enqueue {
        dir: usize,
        waker: usize,
    },
    /// Put the `pick`-th live waiter back in line if it is notified (as one that got EAGAIN).
    Requeue {
        pick: usize,
        waker: usize,
    },
    /// Remove the `pick`-th live waiter (queued or notified: dropped while queued or after
    /// being woken).
    Remove {
        pick: usize,
    },
    Refresh {
        pick: usize,
        waker: usize,
    },
    OnEdge {
        dir: usize,
    },
    NotifyAll {
        dir: usize,
    },
    PassOn {
        dir: usize,
    },
    AddPollWaker {
        dir: usize,
        waker: usize,
    },
    SetReadiness {
        dir: usize,
        readiness: u8,
    },
    Clear {
        dir: usize,
    },
}

fn waiter_op() -> impl Strategy<Value = WaiterOp> {
    let dir = 0..DIRS;
    let waker = 0..WAKERS;
    prop_oneof![
        5 => (dir.clone(), waker.clone())
            .prop_map(|(dir, waker)| WaiterOp::Enqueue { dir, waker }),
        3 => (any::<usize>(), waker.clone())
            .prop_map(|(pick, waker)| WaiterOp::Requeue { pick, waker }),
        4 => any::<usize>().prop_map(|pick| WaiterOp::Remove { pick }),
        2 => (any::<usize>(), waker.clone())
            .prop_map(|(pick, waker)| WaiterOp::Refresh { pick, waker }),
        3 => dir.clone().prop_map(|dir| WaiterOp::OnEdge { dir }),
        1 => dir.clone().prop_map(|dir| WaiterOp::NotifyAll { dir }),
        2 => dir.clone().prop_map(|dir| WaiterOp::PassOn { dir }),
        2 => (dir.clone(), waker).prop_map(|(dir, waker)| WaiterOp::AddPollWaker { dir, waker }),
        1 => (dir.clone(), 0u8..3)
            .prop_map(|(dir, readiness)| WaiterOp::SetReadiness { dir, readiness }),
        1 => dir.prop_map(|dir| WaiterOp::Clear { dir }),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelNode {
    dir: usize,
    ticket: Ticket,
    state: WaiterState,
    /// `None` once notified: the waker was handed out.
    waker: Option<usize>,
}

struct ModelDir {
    readiness: Readiness,
    /// Node ids of the queued waiters, head first.
    queue: VecDeque<usize>,
    poll_wakers: Vec<usize>,
}

struct WaiterModel {
    /// Live waiters (created, not yet removed) by node id.
    nodes: HashMap<usize, ModelNode>,
    dirs: Vec<ModelDir>,
}

impl WaiterModel {
    /// Pops the head of `dir`, marks it notified and returns its waker.
    fn notify_head(&mut self, dir: usize) -> Option<usize> {
        let i = self.dirs[dir].queue.pop_front()?;
        let node = self.nodes.get_mut(&i).expect("queued node is live");
        node.state = WaiterState::Notified;
        Some(node.waker.take().expect("queued node has its waker"))
    }

    /// The `pick`-th live node id, if any.
    fn pick(&self, pick: usize) -> Option<usize> {
        let mut live: Vec<usize> = self.nodes.keys().copied().collect();
        live.sort_unstable();
        (!live.is_empty()).then(|| live[pick % live.len()])
    }
}

fn readiness(r: u8) -> Readiness {
    match r {
        0 => Readiness::Unknown,
        1 => Readiness::Ready,
        _ => Readiness::NotReady,
    }
}

fn check_waiters(ops: Vec<WaiterOp>) -> Result<(), TestCaseError> {
    let pool = waker_pool();
    let dirs: Vec<DirState> = (0..DIRS).map(|_| DirState::new()).collect();
    let mut m = WaiterModel {
        nodes: HashMap::new(),
        dirs: (0..DIRS)
            .map(|_| ModelDir {
                readiness: Readiness::Unknown,
                queue: VecDeque::new(),
                poll_wakers: Vec::new(),
            })
            .collect(),
    };
    let mut next_id = 0;
    let mut wakes = Vec::new();
    for op in ops {
        wakes.clear();
        let mut expect_wakes: Vec<usize> = Vec::new();
        match op {
            WaiterOp::Enqueue { dir, waker } => {
                let ticket = dirs[dir].enqueue(&pool[waker]);
                prop_assert!(
                    m.nodes.values().all(|n| n.dir != dir || n.ticket < ticket),
                    "tickets must increase"
                );
                m.nodes.insert(
                    next_id,
                    ModelNode {
                        dir,
                        ticket,
                        state: WaiterState::Queued,
                        waker: Some(waker),
                    },
                );
                m.dirs[dir].queue.push_back(next_id);
                next_id += 1;
            }
            WaiterOp::Requeue { pick, waker } => {
                let Some(i) = m.pick(pick) else { continue };
                let n = m.nodes[&i];
                if n.state != WaiterState::Notified {
                    continue;
                }
                dirs[n.dir].requeue(n.ticket, &pool[waker]);
                let node = m.nodes.get_mut(&i).expect("live");
                node.state = WaiterState::Queued;
                node.waker = Some(waker);
                // Back in arrival (ticket) order.
                let nodes = &m.nodes;
                let q = &mut m.dirs[n.dir].queue;
                let at = q.partition_point(|j| nodes[j].ticket < n.ticket);
                q.insert(at, i);
            }
            WaiterOp::Remove { pick } => {
                let Some(i) = m.pick(pick) else { continue };
                let n = m.nodes.remove(&i).expect("live");
                m.dirs[n.dir].queue.retain(|&q| q != i);
                prop_assert_eq!(dirs[n.dir].remove(n.ticket), n.state, "remove of #{}", i);
            }
            WaiterOp::Refresh { pick, waker } => {
                let Some(i) = m.pick(pick) else { continue };
                let n = m.nodes.get_mut(&i).expect("live");
                if n.state == WaiterState::Queued {
                    n.waker = Some(waker);
                }
                let (dir, ticket, state) = (n.dir, n.ticket, n.state);
                prop_assert_eq!(dirs[dir].refresh(ticket, &pool[waker]), state, "#{}", i);
            }
            WaiterOp::OnEdge { dir } => {
                dirs[dir].on_edge(&mut wakes);
                let had_poll = !m.dirs[dir].poll_wakers.is_empty();
                expect_wakes.append(&mut m.dirs[dir].poll_wakers);
                match m.notify_head(dir) {
                    Some(w) => expect_wakes.push(w),
                    None => m.dirs[dir].readiness = Readiness::Ready,
                }
                if had_poll {
                    m.dirs[dir].readiness = Readiness::Ready;
                }
            }
            WaiterOp::NotifyAll { dir } => {
                dirs[dir].notify_all(&mut wakes);
                expect_wakes.append(&mut m.dirs[dir].poll_wakers);
                while let Some(w) = m.notify_head(dir) {
                    expect_wakes.push(w);
                }
                m.dirs[dir].readiness = Readiness::Ready;
            }
            WaiterOp::PassOn { dir } => {
                wakes.extend(dirs[dir].pass_on());
                match m.notify_head(dir) {
                    Some(w) => expect_wakes.push(w),
                    None => m.dirs[dir].readiness = Readiness::Ready,
                }
            }
            WaiterOp::AddPollWaker { dir, waker } => {
                dirs[dir].add_poll_waker(&pool[waker]);
                if !m.dirs[dir].poll_wakers.contains(&waker) {
                    m.dirs[dir].poll_wakers.push(waker);
                }
            }
            WaiterOp::SetReadiness { dir, readiness: r } => {
                dirs[dir].readiness.set(readiness(r));
                m.dirs[dir].readiness = readiness(r);
            }
            WaiterOp::Clear { dir } => {
                // Tear-down: queued waiters are dropped unwoken; their owners, if they ask,
                // are told "notified" and just try their operation.
                drop(dirs[dir].clear());
                while let Some(i) = m.dirs[dir].queue.pop_front() {
                    let n = m.nodes.get_mut(&i).expect("live");
                    n.state = WaiterState::Notified;
                    n.waker = None;
                }
                m.dirs[dir].poll_wakers.clear();
            }
        }
        prop_assert_eq!(ids(&pool, &wakes), expect_wakes, "wakes of {:?}", op);
        for (d, md) in dirs.iter().zip(&m.dirs) {
            prop_assert_eq!(d.readiness.get(), md.readiness, "readiness after {:?}", op);
            prop_assert_eq!(d.has_queued(), !md.queue.is_empty(), "queue after {:?}", op);
        }
    }
    // Drain every queue edge by edge: the order must be the model's, to the last waiter.
    for (dir, d) in dirs.iter().enumerate() {
        loop {
            let got: Vec<Waker> = d.pass_on().into_iter().collect();
            let Some(w) = m.notify_head(dir) else {
                prop_assert!(got.is_empty());
                break;
            };
            prop_assert_eq!(ids(&pool, &got), vec![w]);
        }
        prop_assert!(!d.has_queued());
        drop(d.clear());
    }
    // Every waiter left is notified now and leaves through `remove`.
    for n in m.nodes.values() {
        prop_assert_eq!(dirs[n.dir].remove(n.ticket), WaiterState::Notified);
    }
    // The emptied structure still works: a new waiter is queued and woken alone.
    let k = dirs[0].enqueue(&pool[1]);
    wakes.clear();
    dirs[0].on_edge(&mut wakes);
    prop_assert_eq!(ids(&pool, &wakes), vec![1]);
    prop_assert_eq!(dirs[0].remove(k), WaiterState::Notified);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Slab
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum SlabOp {
    Insert(u32),
    Remove { pick: usize },
    Get { pick: usize },
    Set { pick: usize, value: u32 },
    KeyAt { index: u32 },
}

fn slab_op() -> impl Strategy<Value = SlabOp> {
    prop_oneof![
        4 => any::<u32>().prop_map(SlabOp::Insert),
        3 => any::<usize>().prop_map(|pick| SlabOp::Remove { pick }),
        2 => any::<usize>().prop_map(|pick| SlabOp::Get { pick }),
        1 => (any::<usize>(), any::<u32>()).prop_map(|(pick, value)| SlabOp::Set { pick, value }),
        1 => (0u32..40).prop_map(|index| SlabOp::KeyAt { index }),
    ]
}

fn check_slab(ops: Vec<SlabOp>) -> Result<(), TestCaseError> {
    let mut slab: Slab<u32> = Slab::new();
    let mut model: HashMap<Key, u32> = HashMap::new();
    let mut keys: Vec<Key> = Vec::new();
    for op in ops {
        match op {
            SlabOp::Insert(v) => {
                let next = slab.next_key();
                let key = slab.insert(v);
                prop_assert_eq!(key, next, "next_key predicts insert");
                prop_assert!(!keys.contains(&key), "a key was handed out twice: {key:?}");
                prop_assert_eq!(Key::from_u64(key.to_u64()), key);
                keys.push(key);
                model.insert(key, v);
            }
            SlabOp::Remove { pick } if !keys.is_empty() => {
                let key = keys[pick % keys.len()];
                prop_assert_eq!(slab.remove(key), model.remove(&key));
                prop_assert_eq!(slab.remove(key), None);
            }
            SlabOp::Get { pick } if !keys.is_empty() => {
                let key = keys[pick % keys.len()];
                prop_assert_eq!(slab.get(key), model.get(&key));
            }
            SlabOp::Set { pick, value } if !keys.is_empty() => {
                let key = keys[pick % keys.len()];
                match (slab.get_mut(key), model.get_mut(&key)) {
                    (Some(a), Some(b)) => {
                        *a = value;
                        *b = value;
                    }
                    (None, None) => {}
                    (a, b) => prop_assert!(false, "get_mut {key:?}: slab {a:?}, model {b:?}"),
                }
            }
            SlabOp::KeyAt { index } => {
                let expect = model.keys().find(|k| k.index() == index).copied();
                prop_assert_eq!(slab.key_at(index), expect);
            }
            _ => {}
        }
        prop_assert_eq!(slab.len(), model.len());
        prop_assert_eq!(slab.is_empty(), model.is_empty());
        let mut expect: Vec<Key> = model.keys().copied().collect();
        expect.sort_by_key(|k| k.index());
        prop_assert_eq!(slab.keys(), expect);
    }
    // Freed slots are reused before the slab grows: after removing everything, as many
    // inserts as the peak fill only old slots.
    let slots = keys.iter().map(|k| k.index() + 1).max().unwrap_or(0);
    for key in slab.keys() {
        prop_assert!(slab.remove(key).is_some());
    }
    prop_assert!(slab.is_empty());
    for v in 0..slots {
        let key = slab.insert(v);
        prop_assert!(key.index() < slots, "grew while free slots remained");
        prop_assert!(!keys.contains(&key), "a reused slot repeated an old key");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn timers_match_a_sorted_vec(ops in proptest::collection::vec(timer_op(), 0..200)) {
        check_timers(ops)?;
    }

    #[test]
    fn waiters_match_vecdeques(ops in proptest::collection::vec(waiter_op(), 0..200)) {
        check_waiters(ops)?;
    }

    #[test]
    fn slab_matches_a_hashmap(ops in proptest::collection::vec(slab_op(), 0..200)) {
        check_slab(ops)?;
    }
}
