//! `examples/local_executor.rs`: async-executor's `LocalExecutor` driven by geode's `park`
//! completes geode's I/O and timers, and needs no fallback helper thread.

#[path = "../examples/local_executor.rs"]
mod local_executor;

/// Threads of this process named `geode-fallback`.
fn helper_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == "geode-fallback")
        .count()
}

#[test]
fn the_local_executor_example_echoes_without_a_helper_thread() {
    assert_eq!(
        local_executor::demo().unwrap(),
        "hello from a LocalExecutor"
    );
    assert_eq!(helper_threads(), 0, "a park loop needs no fallback helper");
}
