#[geode::test]
async unsafe fn t() {}

fn main() {}
