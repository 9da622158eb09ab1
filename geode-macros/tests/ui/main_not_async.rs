#[geode::main]
fn main() {}
