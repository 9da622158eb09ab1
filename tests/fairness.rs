//! A task whose fd is always ready must not starve the others or the timers.

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use geode::io::Async;

#[test]
fn an_always_ready_reader_does_not_starve_a_timer_or_another_task() {
    let (reader, mut writer) = UnixStream::pair().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // A peer that never stops writing (until the test ends, or 10 s as a hang guard).
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            writer
                .set_write_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let chunk = [7u8; 4096];
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(10) {
                let _ = writer.write(&chunk);
            }
        })
    };
    geode::block_on(async {
        let reader = Async::new(reader).unwrap();
        // Wait until the socket is full of data, so every read is ready at once.
        reader.readable().await.unwrap();
        let done = Rc::new(Cell::new(false));
        let reads = Rc::new(Cell::new(0u64));
        let hog = {
            let (done, reads) = (done.clone(), reads.clone());
            geode::spawn(async move {
                let mut buf = [0u8; 64];
                while !done.get() {
                    reader.read_with(|mut s| s.read(&mut buf)).await.unwrap();
                    reads.set(reads.get() + 1);
                }
            })
        };
        let other_ran = Rc::new(Cell::new(false));
        let other = {
            let flag = other_ran.clone();
            geode::spawn(async move { flag.set(true) })
        };
        let start = Instant::now();
        geode::time::sleep(Duration::from_millis(20)).await;
        let late = start.elapsed();
        done.set(true);
        assert!(other_ran.get(), "another task ran while the hog was busy");
        assert!(reads.get() > 128, "the hog did run ({} reads)", reads.get());
        assert!(
            late < Duration::from_secs(5),
            "the timer fired only after {late:?}: the hog starved it"
        );
        other.await.unwrap();
        hog.await.unwrap();
    });
    stop.store(true, Ordering::Relaxed);
    flood.join().unwrap();
}
