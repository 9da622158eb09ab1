#[geode::test]
async fn t<T>() {}

fn main() {}
