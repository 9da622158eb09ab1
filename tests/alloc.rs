//! No heap allocation per read/write once an fd is registered: the hot path reuses the
//! reactor's slabs and buffers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::unix::net::UnixStream;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use geode::io::Async;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; we only count calls made
// on the thread that asked for counting (thread-locals with const initialisers and no
// destructor never allocate).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn blocking_round_trips_allocate_nothing_once_registered() {
    geode::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        let echo = geode::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                if (&b).read_exact(&mut buf).await.is_err() {
                    return;
                }
                (&b).write_all(&buf).await.unwrap();
            }
        });
        let msg = [9u8; 64];
        let mut buf = [0u8; 64];
        // Warm up: registration, slab growth, queue capacity.
        for _ in 0..100 {
            a.write_all(&msg).await.unwrap();
            a.read_exact(&mut buf).await.unwrap();
        }
        let before = geode::reactor::stats().epoll_wait_calls;
        // Count while the runtime runs 1000 blocking round trips: this covers the executor,
        // the reactor and both tasks, all on this thread.
        COUNTING.with(|c| c.set(true));
        ALLOCS.with(|a| a.set(0));
        for _ in 0..1000 {
            a.write_all(&msg).await.unwrap();
            a.read_exact(&mut buf).await.unwrap();
        }
        COUNTING.with(|c| c.set(false));
        let allocs = ALLOCS.with(Cell::get);
        let waits = geode::reactor::stats().epoll_wait_calls - before;
        assert!(waits >= 1000, "the round trips blocked ({waits} waits)");
        assert_eq!(allocs, 0, "{allocs} allocations over 1000 round trips");
        drop(a);
        echo.await.unwrap();
    });
}

/// Resolving an IP literal (every form `connect` and `send_to` take) allocates nothing and
/// needs no pool hop: the first poll is ready.
#[test]
fn ip_literals_resolve_without_allocating() {
    use std::future::Future;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn count_ready<F: Future>(fut: F) -> (u64, F::Output) {
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        ALLOCS.with(|a| a.set(0));
        COUNTING.with(|c| c.set(true));
        let polled = fut.as_mut().poll(&mut cx);
        COUNTING.with(|c| c.set(false));
        match polled {
            Poll::Ready(out) => (ALLOCS.with(Cell::get), out),
            Poll::Pending => panic!("an IP literal went to the pool"),
        }
    }

    let want: SocketAddr = "127.0.0.1:80".parse().unwrap();
    for (allocs, got) in [
        count_ready(geode::net::lookup_host("127.0.0.1:80")),
        count_ready(geode::net::lookup_host(("127.0.0.1", 80))),
        count_ready(geode::net::lookup_host((Ipv4Addr::LOCALHOST, 80))),
        count_ready(geode::net::lookup_host(want)),
    ] {
        let got: Vec<SocketAddr> = got.unwrap().collect();
        assert_eq!(got, [want]);
        assert_eq!(allocs, 0, "resolving a literal allocated");
    }
}
