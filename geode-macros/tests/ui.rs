//! Each misuse of `#[geode::main]` and `#[geode::test]` fails to compile with the message that
//! names it: every `tests/ui/*.rs` must fail, and its compiler output must match the `.stderr`
//! beside it. After a deliberate change of a message, `TRYBUILD=overwrite cargo test -p
//! geode-macros --test ui` writes the new output (review the diff).

#[test]
fn misuses_fail_with_their_messages() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
