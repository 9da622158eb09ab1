//! `examples/thread_per_core.rs`: one listener shared by N threads' reactors.

mod util;

#[path = "../examples/thread_per_core.rs"]
mod thread_per_core;

#[test]
fn two_hundred_connections_are_each_accepted_once_without_a_thundering_herd() {
    const THREADS: usize = 4;
    const CONNECTIONS: usize = 200;
    let reports = thread_per_core::run(THREADS, CONNECTIONS).unwrap();
    let accepted: u64 = reports.iter().map(|r| r.accepted).sum();
    assert_eq!(
        accepted, CONNECTIONS as u64,
        "every connection accepted exactly once"
    );
    let waits: u64 = reports.iter().map(|r| r.epoll_wait_calls).sum();
    let woken: u64 = reports.iter().map(|r| r.woken).sum();
    println!("{reports:?}: woken {woken} times, {waits} epoll_wait returns");
    if util::epollexclusive_disabled() {
        // Without EPOLLEXCLUSIVE every thread is woken for every connection: the herd this
        // test exists to rule out is expected, and only "accepted once" holds.
        println!("GEODE_NO_EPOLLEXCLUSIVE is set: herd bounds not checked");
        return;
    }
    // Each connection is made while every server thread is blocked in epoll_wait, and serving
    // one never waits. With EPOLLEXCLUSIVE the kernel wakes one thread per connection ("one or
    // more", it promises; measured: 204 returns for 200); without it, all four (measured: ~810
    // wakeups, most of them swallowed inside epoll_wait, which re-polls the listener before
    // returning, so the returns alone barely show the herd).
    assert!(
        waits < 2 * CONNECTIONS as u64,
        "{waits} returns from epoll_wait for {CONNECTIONS} connections: a herd"
    );
    if util::under_valgrind() {
        // Valgrind hands its one big lock between threads with futex waits, each a voluntary
        // context switch (measured: 626 for 200 connections, with exclusive wakeups).
        println!("under valgrind: the context-switch bound is not checked");
        return;
    }
    assert!(
        woken < 2 * CONNECTIONS as u64,
        "{woken} thread wakeups for {CONNECTIONS} connections on {THREADS} threads: a herd"
    );
}
