#[geode::test]
struct NotAFunction;

fn main() {}
