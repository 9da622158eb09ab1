//! Register once: an fd costs one EPOLL_CTL_ADD for its whole life, however often it blocks.

mod util;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use geode::io::Async;
use geode::reactor::stats;
use std::os::unix::net::UnixStream;

#[test]
fn one_epoll_ctl_per_fd_across_a_thousand_blocking_round_trips() {
    geode::block_on(util::bounded(10, "ping-pong", async {
        // Let the reactor create its epoll instance (and add its eventfd) first.
        geode::yield_now().await;
        let (a, b) = UnixStream::pair().unwrap();
        let before = stats();
        let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        assert_eq!(stats().registered_fds, before.registered_fds + 2);
        assert_eq!(stats().registrations, before.registrations + 2);
        // Registration is lazy: no syscall until an operation would block.
        assert_eq!(stats().epoll_ctl_calls, before.epoll_ctl_calls);

        let echo = geode::spawn(async move {
            let mut buf = [0u8; 8];
            for _ in 0..1000 {
                (&b).read_exact(&mut buf).await.unwrap();
                (&b).write_all(&buf).await.unwrap();
            }
            b
        });
        let mut a = a;
        let mut buf = [0u8; 8];
        // The first round trip blocks on both sides: each fd is added once.
        a.write_all(b"01234567").await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        let warm = stats();
        assert_eq!(warm.epoll_ctl_calls, before.epoll_ctl_calls + 2);
        for i in 1..1000u64 {
            a.write_all(&i.to_le_bytes()).await.unwrap();
            a.read_exact(&mut buf).await.unwrap();
            assert_eq!(u64::from_le_bytes(buf), i);
        }
        let after = stats();
        assert_eq!(
            after.epoll_ctl_calls, warm.epoll_ctl_calls,
            "round trips that block must not touch epoll_ctl"
        );
        assert!(
            after.epoll_wait_calls - warm.epoll_wait_calls >= 999,
            "each round trip blocked (waited in epoll) at least once"
        );
        let b = echo.await.unwrap();
        drop(a);
        drop(b);
        let end = stats();
        assert_eq!(end.registered_fds, before.registered_fds);
        assert_eq!(
            end.epoll_ctl_calls,
            after.epoll_ctl_calls + 2,
            "one EPOLL_CTL_DEL per fd on drop"
        );
    }));
}

#[test]
fn an_fd_that_never_blocks_costs_no_epoll_ctl() {
    // Lazy registration saves ADD + DEL for a short-lived fd that never waits.
    geode::block_on(async {
        let before = stats();
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        a.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        b.read_exact(&mut buf).await.unwrap();
        drop((a, b));
        let after = stats();
        assert_eq!(after.epoll_ctl_calls, before.epoll_ctl_calls);
        assert_eq!(after.registered_fds, before.registered_fds);
    });
}
