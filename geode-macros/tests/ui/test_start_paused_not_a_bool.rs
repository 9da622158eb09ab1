#[geode::test(start_paused = "yes")]
async fn t() {}

fn main() {}
