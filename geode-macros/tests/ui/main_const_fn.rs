#[geode::main]
const fn run() {}

fn main() {}
