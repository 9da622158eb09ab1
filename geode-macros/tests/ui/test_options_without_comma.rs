#[geode::test(start_paused = true start_paused = false)]
async fn t() {}

fn main() {}
