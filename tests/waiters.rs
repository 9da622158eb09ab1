//! FIFO waiter queues under edge triggering: no wakeup is ever lost, and waiters are served in
//! arrival order.

mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use geode::io::Async;
use tokio_test::{assert_pending, assert_ready};

/// Reads one byte; a pipe with no data (or a partial `read_exact`) reports `WouldBlock`.
async fn read_one(r: &Async<std::io::PipeReader>) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_with(|mut p| {
        p.read_exact(&mut b).map(|()| b[0]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::ErrorKind::WouldBlock.into()
            } else {
                e
            }
        })
    })
    .await
}

#[test]
fn three_readers_are_woken_in_arrival_order() {
    geode::block_on(util::bounded(5, "fifo readers", async {
        let (r, mut w) = std::io::pipe().unwrap();
        let r = Rc::new(Async::new(r).unwrap());
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for name in ['a', 'b', 'c'] {
            let (r, order) = (r.clone(), order.clone());
            tasks.push(geode::spawn(async move {
                let byte = read_one(&r).await.unwrap();
                order.borrow_mut().push((name, byte));
            }));
        }
        // Let the three tasks run and queue up, in spawn order.
        geode::yield_now().await;
        for msg in [b'1', b'2', b'3'] {
            w.write_all(&[msg]).unwrap();
            // One message at a time: wait until someone took it.
            while order.borrow().len() < (msg - b'0') as usize {
                geode::yield_now().await;
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.borrow(), vec![('a', b'1'), ('b', b'2'), ('c', b'3')]);
    }));
}

#[test]
fn three_readers_share_a_burst_without_hanging() {
    // All three messages arrive in one edge: the head reads one and passes readiness on.
    geode::block_on(util::bounded(5, "burst", async {
        let (r, mut w) = std::io::pipe().unwrap();
        let r = Rc::new(Async::new(r).unwrap());
        let got = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (r, got) = (r.clone(), got.clone());
                geode::spawn(async move {
                    let byte = read_one(&r).await.unwrap();
                    got.borrow_mut().push(byte);
                })
            })
            .collect();
        geode::yield_now().await;
        w.write_all(b"xyz").unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*got.borrow(), b"xyz".to_vec());
    }));
}

#[test]
fn three_acceptors_accept_five_simultaneous_clients() {
    // Crystal's #16209: with edge triggering, a second acceptor starved when the first did not
    // accept until EAGAIN. Every queued connection must be accepted.
    geode::block_on(util::bounded(5, "acceptors", async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = Rc::new(Async::new(listener).unwrap());
        let accepted = Rc::new(RefCell::new(0));
        let acceptors: Vec<_> = (0..3)
            .map(|_| {
                let (l, accepted) = (listener.clone(), accepted.clone());
                geode::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let (s, _) = l.read_with(|l| l.accept()).await.unwrap();
                        *accepted.borrow_mut() += 1;
                        mine.push(s);
                        if *accepted.borrow() >= 5 {
                            return mine;
                        }
                    }
                })
            })
            .collect();
        geode::yield_now().await;
        // Five connects complete in the kernel's backlog at once.
        let clients: Vec<_> = (0..5)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        while *accepted.borrow() < 5 {
            geode::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(*accepted.borrow(), 5);
        for a in acceptors {
            a.abort();
        }
        drop(clients);
    }));
}

#[test]
fn a_woken_waiter_dropped_before_it_runs_hands_off_to_the_next() {
    util::drive_with_park();
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let mut first = tokio_test::task::spawn(read_one(&r));
    let mut second = tokio_test::task::spawn(read_one(&r));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    w.write_all(b"!").unwrap();
    geode::reactor::park(Some(Duration::from_secs(5))).unwrap();
    assert!(first.is_woken(), "the edge wakes the head waiter");
    assert!(!second.is_woken(), "and only the head waiter");
    drop(first);
    assert!(
        second.is_woken(),
        "dropping a woken waiter passes the wakeup on"
    );
    assert_eq!(assert_ready!(second.poll()).unwrap(), b'!');
}

#[test]
fn a_queued_waiter_dropped_leaves_the_queue() {
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let mut first = tokio_test::task::spawn(read_one(&r));
    let mut second = tokio_test::task::spawn(read_one(&r));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(first);
    w.write_all(b"?").unwrap();
    geode::reactor::park(Some(Duration::from_secs(5))).unwrap();
    assert!(second.is_woken());
    assert_eq!(assert_ready!(second.poll()).unwrap(), b'?');
}

#[test]
fn a_pending_read_holds_one_waker_and_is_woken_exactly_once() {
    util::drive_with_park();
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let mut task = tokio_test::task::spawn(read_one(&r));
    assert_pending!(task.poll());
    assert_pending!(task.poll());
    // tokio-test counts the task's own reference too: 2 = exactly one clone in the reactor.
    assert_eq!(
        task.waker_ref_count(),
        2,
        "the reactor keeps one waker clone"
    );
    w.write_all(b"1").unwrap();
    geode::reactor::park(Some(Duration::from_secs(5))).unwrap();
    assert!(task.is_woken());
    assert_eq!(assert_ready!(task.poll()).unwrap(), b'1');

    // Exact wake count, with a counting waker: one edge, one wake, however often we park.
    let (count, waker) = util::counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(read_one(&r));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    w.write_all(b"2").unwrap();
    for _ in 0..3 {
        geode::reactor::park(Some(Duration::from_millis(20))).unwrap();
    }
    assert_eq!(count.wakes.load(Ordering::SeqCst), 1);
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(b'2'))));
}

#[test]
fn dropping_a_pending_read_leaves_no_waker_behind() {
    util::drive_with_park();
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let (count, waker) = util::counting_waker();
    {
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(read_one(&r));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            Arc::strong_count(&count),
            3,
            "ours, `waker`, and the queued clone"
        );
    }
    assert_eq!(
        Arc::strong_count(&count),
        2,
        "the reactor dropped its clone"
    );
    w.write_all(b"x").unwrap();
    geode::reactor::park(Some(Duration::ZERO)).unwrap();
    assert_eq!(count.wakes.load(Ordering::SeqCst), 0, "no stale wakeup");
}

#[test]
fn an_edge_with_no_waiter_is_remembered() {
    // Data arrives after the fd entered epoll but while nobody waits: the next read must not
    // wait for another edge.
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    {
        let mut t = tokio_test::task::spawn(read_one(&r));
        assert_pending!(t.poll()); // now registered
    }
    w.write_all(b"e").unwrap();
    geode::reactor::park(Some(Duration::from_secs(5))).unwrap();
    let mut t = tokio_test::task::spawn(read_one(&r));
    assert_eq!(assert_ready!(t.poll()).unwrap(), b'e');
}
