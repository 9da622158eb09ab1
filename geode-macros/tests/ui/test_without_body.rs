// In a trait, where a function without a body is itself fine, so the only error is the macro's.
trait Tests {
    #[geode::test]
    async fn t();
}

fn main() {}
