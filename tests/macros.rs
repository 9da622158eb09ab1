//! `#[geode::test]` and `#[geode::main]` in use.

use std::time::Duration;

#[geode::test]
async fn an_async_test_runs_on_geode() {
    let h = geode::spawn(async { 1 + 1 });
    geode::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(h.await.unwrap(), 2);
}

#[geode::test]
async fn an_async_test_may_return_a_result() -> std::io::Result<()> {
    geode::time::timeout(Duration::from_secs(1), async {}).await?;
    Ok(())
}

#[geode::test]
#[should_panic(expected = "boom")]
async fn attributes_after_the_macro_are_kept() {
    panic!("boom");
}

mod entry {
    #[geode::main]
    pub(crate) async fn main() -> u32 {
        geode::yield_now().await;
        7
    }
}

#[test]
fn main_macro_makes_a_blocking_fn() {
    assert_eq!(entry::main(), 7);
}
