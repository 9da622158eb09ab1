#[geode::test]
async fn t() -> ()
where
    (): Sized,
{
}

fn main() {}
