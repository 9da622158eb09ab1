#[geode::main]
async fn run(_port: u16) {}

fn main() {}
