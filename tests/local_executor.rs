//! `examples/local_executor.rs`: async-executor's `LocalExecutor` driven by geode's `park`
//! completes geode's I/O and timers, and needs no fallback helper thread.

mod util;
use util::helper_threads;

#[path = "../examples/local_executor.rs"]
mod local_executor;

#[test]
fn the_local_executor_example_echoes_without_a_helper_thread() {
    assert_eq!(
        local_executor::demo().unwrap(),
        "hello from a LocalExecutor"
    );
    assert_eq!(helper_threads(), 0, "a park loop needs no fallback helper");
}
