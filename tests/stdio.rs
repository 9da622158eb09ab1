//! `geode::io::{stdin, stdout, stderr}`: this binary again as a child with piped standard
//! streams (the harness's own output shares the child's stdout, so the payload is marked).

mod util;
use util::{child_test_command, in_child};

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use futures_util::AsyncReadExt;

#[test]
fn stdin_to_stdout_and_stderr_through_the_pool() {
    let input: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let mut cmd = child_test_command("child_echo_upper");
    cmd.env("GEODE_TEST_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = input.clone();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&feed).unwrap();
        // Dropping stdin closes the pipe: the child reads EOF.
    });
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill has no memory preconditions; pid is our own child, not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("the child did not finish within 60 s");
        }
    };
    writer.join().unwrap();
    let stdout = out.stdout;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    let start = find(&stdout, b"<<").expect("no start marker") + 2;
    let end = find(&stdout, b">>").expect("no end marker");
    assert_eq!(&stdout[start..end], input.to_ascii_uppercase().as_slice());
    assert!(stderr.contains("to stderr via geode"), "{stderr}");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
#[ignore = "run by stdin_to_stdout_and_stderr_through_the_pool with piped standard streams"]
fn child_echo_upper() {
    if !in_child() {
        return;
    }
    geode::block_on(async {
        let mut input = Vec::new();
        geode::io::stdin().read_to_end(&mut input).await.unwrap();
        let mut out = geode::io::stdout();
        out.write_all(b"<<").await.unwrap();
        for chunk in input.to_ascii_uppercase().chunks(1000) {
            out.write_all(chunk).await.unwrap();
        }
        out.write_all(b">>").await.unwrap();
        out.flush().await.unwrap();
        let mut err = geode::io::stderr();
        err.write_all(b"to stderr via geode\n").await.unwrap();
        err.flush().await.unwrap();
    });
}
