//! Name resolution: `geode::net::lookup_host` and the `ToSocketAddrs` calls (`connect`,
//! `send_to`). IP literals resolve inline (the first poll is ready); names go to the pool;
//! errors keep std's kind and message.
//!
//! `a_resolver_that_never_answers_does_not_stall_the_thread` needs a resolver that never
//! answers. It must not touch the machine's `/etc/resolv.conf`: it runs this binary again in
//! new user, mount and network namespaces (`unshare -Urmn`), where a bind mount puts a
//! `resolv.conf` naming 127.0.0.1 over the real one (only inside the namespace) and the child
//! test binds a UDP socket on 127.0.0.1:53 that reads queries and never answers. Without
//! `unshare` (or user namespaces) it is skipped with a printed reason. It measures timer
//! lateness, but in that child, which runs natively even under `.ci/valgrind.sh` (valgrind
//! does not trace exec'd children), so nothing is skipped there.

mod util;
use util::{bounded, in_child, run_child_test};

use std::cell::Cell;
use std::future::Future;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use geode::net::{TcpListener, TcpStream, UdpSocket, lookup_host};

fn run<F: Future>(what: &str, fut: F) -> F::Output {
    geode::block_on(bounded(60, what, fut))
}

/// Polls `fut` once with a waker that does nothing: a literal must be ready at once, without a
/// pool hop (which could only complete after a wake).
fn ready_at_once<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an IP literal went to the pool instead of resolving inline"),
    }
}

#[test]
fn ip_literals_resolve_inline_in_every_form() {
    let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let v6: SocketAddr = "[::1]:443".parse().unwrap();
    assert_eq!(
        ready_at_once(lookup_host("127.0.0.1:80"))
            .unwrap()
            .collect::<Vec<_>>(),
        [v4]
    );
    assert_eq!(
        ready_at_once(lookup_host(String::from("[::1]:443")))
            .unwrap()
            .collect::<Vec<_>>(),
        [v6]
    );
    assert_eq!(
        ready_at_once(lookup_host(("127.0.0.1", 80)))
            .unwrap()
            .collect::<Vec<_>>(),
        [v4]
    );
    assert_eq!(
        ready_at_once(lookup_host(("::1".to_string(), 443)))
            .unwrap()
            .collect::<Vec<_>>(),
        [v6]
    );
    assert_eq!(
        ready_at_once(lookup_host((Ipv4Addr::LOCALHOST, 80)))
            .unwrap()
            .collect::<Vec<_>>(),
        [v4]
    );
    assert_eq!(
        ready_at_once(lookup_host((Ipv6Addr::LOCALHOST, 443)))
            .unwrap()
            .collect::<Vec<_>>(),
        [v6]
    );
    assert_eq!(
        ready_at_once(lookup_host(v4)).unwrap().collect::<Vec<_>>(),
        [v4]
    );
    static BOTH: [SocketAddr; 2] = [
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 1),
        SocketAddr::new(std::net::IpAddr::V6(Ipv6Addr::LOCALHOST), 2),
    ];
    assert_eq!(
        ready_at_once(lookup_host(&BOTH[..]))
            .unwrap()
            .collect::<Vec<_>>(),
        BOTH
    );
}

#[test]
fn send_to_a_literal_needs_no_pool_hop() {
    geode::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = b.local_addr().unwrap().to_string();
        assert_eq!(ready_at_once(a.send_to(b"hi", target.as_str())).unwrap(), 2);
        let mut buf = [0; 2];
        b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(b.recv(&mut buf).unwrap(), 2);
    });
}

#[test]
fn localhost_resolves_and_connect_and_send_to_take_names() {
    run("localhost", async {
        let addrs: Vec<SocketAddr> = lookup_host(("localhost", 8080)).await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
        let same: Vec<SocketAddr> = lookup_host("localhost:8080").await.unwrap().collect();
        assert_eq!(same, addrs);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // "localhost" may list ::1 first (refused here); connect goes on to 127.0.0.1.
        let (c, accepted) =
            futures_util::future::join(TcpStream::connect(("localhost", port)), listener.accept())
                .await;
        let c = c.unwrap();
        assert_eq!(accepted.unwrap().1, c.local_addr().unwrap());

        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = b.local_addr().unwrap().port();
        // Only IPv4 literals are bound: resolve to the v4 address of localhost.
        let v4 = lookup_host(("localhost", port))
            .await
            .unwrap()
            .find(SocketAddr::is_ipv4)
            .expect("localhost has an IPv4 address");
        assert_eq!(a.send_to(b"name", v4).await.unwrap(), 4);
        let mut buf = [0; 4];
        assert_eq!(b.recv_from(&mut buf).await.unwrap().0, 4);
    });
}

#[test]
fn a_name_that_does_not_resolve_keeps_std_kind_and_message() {
    let name = "geode-test.invalid";
    // What std says for the same name, on a plain thread (bounded: a resolver that cannot be
    // reached takes its timeout, seconds, to say so).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::net::ToSocketAddrs::to_socket_addrs(&(name, 80)).unwrap_err());
    });
    let std_err = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("std's lookup did not finish within 60 s");
    run("a name that does not resolve", async {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        // All at once, so a slow resolver costs its timeout once, not four times.
        let (a, b, c, d) = futures_util::future::join4(
            lookup_host((name, 80)),
            lookup_host(format!("{name}:80")),
            TcpStream::connect((name, 80)),
            udp.send_to(b"x", (name, 80)),
        )
        .await;
        for e in [
            a.unwrap_err(),
            b.unwrap_err(),
            c.unwrap_err(),
            d.unwrap_err(),
        ] {
            assert_eq!(e.kind(), std_err.kind(), "{e}");
            assert_eq!(e.raw_os_error(), std_err.raw_os_error(), "{e}");
            if std_err.raw_os_error().is_none() {
                assert_eq!(e.to_string(), format!("lookup {name}: {std_err}"));
            }
        }

        // No port: std's InvalidInput, named.
        let e = lookup_host("localhost").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().starts_with("lookup localhost: "), "{e}");
    });
}

#[test]
fn a_resolver_that_never_answers_does_not_stall_the_thread() {
    let probe = std::process::Command::new("unshare")
        .args([
            "-Urmn",
            "sh",
            "-c",
            "ip link set lo up && mount --bind /dev/null /etc/hostname",
        ])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        println!(
            "skipped: user+mount+network namespaces (`unshare -Urmn` with `ip`) unavailable: {probe:?}"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("geode-lookup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let resolv = dir.join("resolv.conf");
    // One nameserver on loopback; glibc's longest timeout, one attempt: it never answers.
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n",
    )
    .unwrap();
    let name = "child_lookups_pending_while_an_interval_ticks";
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-Urmn", "sh", "-c"])
        .arg(r#"ip link set lo up && mount --bind "$GEODE_TEST_RESOLV" /etc/resolv.conf && exec "$@""#)
        .arg("sh")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--ignored", "--test-threads=1"])
        .env("GEODE_TEST_CHILD", "1")
        .env("GEODE_TEST_RESOLV", &resolv);
    let out = run_child_test(cmd, name, 120);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(at) = out.find("lateness of") {
        println!("{}", out[at..].lines().next().unwrap_or_default());
    }
}

#[test]
#[ignore = "run by a_resolver_that_never_answers_does_not_stall_the_thread in namespaces"]
fn child_lookups_pending_while_an_interval_ticks() {
    if !in_child() {
        return;
    }
    // The fake resolver: reads queries (to prove they were sent), never answers.
    let server = std::net::UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53");
    server.set_nonblocking(true).unwrap();
    const LOOKUPS: usize = 100;
    const TICKS: usize = 300;
    let (done, mut lateness, queries) =
        geode::block_on(bounded(60, "ticks beside lookups", async {
            let done = Rc::new(Cell::new(0));
            for i in 0..LOOKUPS {
                let done = done.clone();
                geode::spawn(async move {
                    let _ = lookup_host((format!("never-answered-{i}.test"), 80)).await;
                    done.set(done.get() + 1);
                });
            }
            // Measure once every lookup is waiting on the resolver: each sends an A and an AAAA
            // query (glibc sends them together), so wait for both of all of them.
            let mut queries = 0;
            let mut buf = [0; 512];
            while queries < 2 * LOOKUPS {
                match server.recv(&mut buf) {
                    Ok(_) => queries += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        geode::time::sleep(Duration::from_millis(1)).await
                    }
                    Err(e) => panic!("the fake resolver's socket failed: {e}"),
                }
            }
            let mut interval = geode::time::interval(Duration::from_millis(1));
            let mut lateness = Vec::with_capacity(TICKS);
            for _ in 0..TICKS {
                let due = interval.tick().await;
                lateness.push(geode::time::Instant::now().duration_since(due));
            }
            (done.get(), lateness, queries)
        }));
    // The lookups were pending the whole time: none answered, none failed.
    assert_eq!(
        done, 0,
        "a lookup finished although the resolver never answers"
    );
    lateness.sort();
    let p99 = lateness[TICKS * 99 / 100];
    let max = lateness[TICKS - 1];
    println!(
        "lateness of a 1 ms interval beside {LOOKUPS} pending lookups ({queries} queries seen): p99 {p99:?}, max {max:?}"
    );
    // The issue's goal is p99 <= 2 ms, met on an idle machine (docs/BENCHMARKS.md); a test
    // cannot assert it: on a loaded 2-core CI machine a 1 ms tick is late by tens of ms with
    // no lookup at all (measured: 31 ms at load average 10). What it asserts is the property
    // that matters, with a margin no scheduler eats: a thread blocked in the resolver would be
    // late by its 30 s timeout, so every tick must come within 2 s.
    assert!(
        max <= Duration::from_secs(2),
        "max lateness {max:?} (p99 {p99:?})"
    );
}
