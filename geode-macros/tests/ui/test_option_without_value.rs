#[geode::test(start_paused)]
async fn t() {}

fn main() {}
