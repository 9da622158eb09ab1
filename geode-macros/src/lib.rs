//! Attribute macros for the `geode` runtime: `#[geode::main]` and `#[geode::test]`.
//!
//! Both turn an `async fn` with no arguments into a plain `fn` whose body
//! runs the original body to completion on `::geode::block_on`. Use them
//! through the re-exports `geode::main` and `geode::test`: the expansion names
//! `::geode`, so the calling crate must depend on `geode` under that name.
//!
//! This crate depends only on the compiler's `proc_macro` crate. Bad input is
//! reported with `compile_error!` pointing at the offending tokens; it never
//! panics.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use proc_macro::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};

/// Runs an `async fn` as the program's entry point on the geode executor.
///
/// The function must be a plain `async fn` without arguments or generics; its
/// attributes, visibility, name and return type are kept. The attribute takes
/// no arguments.
///
/// ```ignore
/// #[geode::main]
/// async fn main() -> std::io::Result<()> {
///     do_io().await?;
///     Ok(())
/// }
/// // expands to:
/// fn main() -> std::io::Result<()> {
///     ::geode::block_on(async move { do_io().await?; Ok(()) })
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args, item)
}

/// Runs an `async fn` as a `#[test]` on the geode executor.
///
/// The function must be a plain `async fn` without arguments or generics. The
/// generated `#[test]` comes first; the function's own attributes (for example
/// `#[should_panic]`, `#[ignore]` or doc comments) follow it unchanged, and any
/// return type that `#[test]` accepts (such as `Result<(), E>`) is kept.
///
/// Option: `start_paused = true` calls `::geode::time::pause()` before the body
/// runs; `start_paused = false` (the default) adds nothing.
///
/// ```ignore
/// #[geode::test(start_paused = true)]
/// async fn times_out() -> Result<(), String> {
///     sleep(Duration::from_secs(5)).await;
///     Ok(())
/// }
/// // expands to:
/// #[::core::prelude::v1::test]
/// fn times_out() -> Result<(), String> {
///     ::geode::block_on(async move {
///         ::geode::time::pause();
///         { sleep(Duration::from_secs(5)).await; Ok(()) }
///     })
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args, item)
}

/// Which of the two attributes is being expanded.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `#[geode::main]`.
    Main,
    /// `#[geode::test]`.
    Test,
}

/// An error: the span to underline and the message (without the attribute's name).
type Error = (Span, String);

/// The annotated function, split where the expansion wraps it.
struct AsyncFn {
    /// Attributes, visibility, `fn`, name, `()` and `-> T`, with `async` removed.
    sig: Vec<TokenTree>,
    /// The `{ ... }` body.
    body: Group,
}

/// Expands either attribute. On error yields `compile_error!` followed by the item
/// with `async` removed, so its name still resolves and rustc adds no noise about
/// an `async` `main` or test.
fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = parse_options(kind, args).and_then(|paused| Ok((paused, parse_fn(item.clone())?)));
    match parsed {
        Ok((paused, f)) => generate(kind, paused, f),
        Err((span, msg)) => {
            let name = if kind == Kind::Main {
                "geode::main"
            } else {
                "geode::test"
            };
            let mut lit = Literal::string(&format!("{name}: {msg}"));
            lit.set_span(span);
            let mut out: TokenStream = ts("::core::compile_error!")
                .into_iter()
                .chain([group(
                    Delimiter::Parenthesis,
                    TokenTree::Literal(lit).into(),
                )])
                .chain(ts(";"))
                .map(|mut t| {
                    t.set_span(span);
                    t
                })
                .collect();
            out.extend(strip_async(item));
            out
        }
    }
}

/// Parses constant Rust source into tokens (call-site spans).
fn ts(src: &str) -> TokenStream {
    src.parse().unwrap_or_default()
}

/// A group with the given delimiter and contents.
fn group(delimiter: Delimiter, stream: TokenStream) -> TokenTree {
    TokenTree::Group(Group::new(delimiter, stream))
}

/// Shorthand for returning an [`Error`].
fn fail<T>(span: Span, msg: impl Into<String>) -> Result<T, Error> {
    Err((span, msg.into()))
}

/// The span of `tt`, or `fallback` if there is no token.
fn span_or(tt: Option<&TokenTree>, fallback: Span) -> Span {
    tt.map_or(fallback, TokenTree::span)
}

/// True if `tt` is the punctuation character `c`.
fn is_punct(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// True if `tt` is the identifier (or keyword) `word`.
fn is_ident(tt: Option<&TokenTree>, word: &str) -> bool {
    matches!(tt, Some(TokenTree::Ident(i)) if i.to_string() == word)
}

/// True if `tt` is a group delimited by `d`.
fn is_group(tt: Option<&TokenTree>, d: Delimiter) -> bool {
    matches!(tt, Some(TokenTree::Group(g)) if g.delimiter() == d)
}

/// Drops top-level `async` keywords that come before the `fn` keyword.
fn strip_async(item: TokenStream) -> TokenStream {
    let mut seen_fn = false;
    let keep = move |t: &TokenTree| {
        seen_fn |= is_ident(Some(t), "fn");
        seen_fn || !is_ident(Some(t), "async")
    };
    item.into_iter().filter(keep).collect()
}

/// Parses the attribute's arguments; returns whether `start_paused = true` was given.
fn parse_options(kind: Kind, args: TokenStream) -> Result<bool, Error> {
    let mut toks = args.into_iter();
    if kind == Kind::Main {
        return match toks.next() {
            None => Ok(false),
            Some(t) => fail(t.span(), "the attribute takes no arguments"),
        };
    }
    let mut start_paused = None;
    while let Some(tt) = toks.next() {
        let key = match tt {
            TokenTree::Ident(key) if key.to_string() == "start_paused" => key,
            TokenTree::Ident(key) => {
                let msg = format!("unknown option `{key}` (the only option is `start_paused`)");
                return fail(key.span(), msg);
            }
            other => {
                return fail(
                    other.span(),
                    "expected an option like `start_paused = true`",
                );
            }
        };
        let eq = toks.next();
        if !is_punct(eq.as_ref(), '=') {
            let msg = "expected `start_paused = true` or `start_paused = false`";
            return fail(span_or(eq.as_ref(), key.span()), msg);
        }
        let value = toks.next().map(unwrap_invisible);
        let value = match value.as_ref().map(ToString::to_string).as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => {
                let msg = "`start_paused` expects a bool (`true` or `false`)";
                return fail(span_or(value.as_ref(), key.span()), msg);
            }
        };
        if start_paused.replace(value).is_some() {
            return fail(key.span(), "`start_paused` is given more than once");
        }
        match toks.next() {
            None => break,
            Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
            Some(other) => return fail(other.span(), "expected `,` between options"),
        }
    }
    Ok(start_paused.unwrap_or(false))
}

/// Looks through a `None`-delimited group holding one token (as `macro_rules!` produces).
fn unwrap_invisible(tt: TokenTree) -> TokenTree {
    match &tt {
        TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
            let mut inner = g.stream().into_iter();
            match (inner.next(), inner.next()) {
                (Some(one), None) => one,
                _ => tt,
            }
        }
        _ => tt,
    }
}

/// Walks the item's tokens and checks it is `[attrs] [vis] async fn name() [-> T] { ... }`.
fn parse_fn(item: TokenStream) -> Result<AsyncFn, Error> {
    let mut toks: Vec<TokenTree> = item.into_iter().collect();
    let not_fn = "the attribute can only be applied to an `async fn`";
    let mut i = 0;
    while is_punct(toks.get(i), '#') {
        match toks.get(i + 1) {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => {
                if g.stream().to_string() == "test" {
                    return fail(
                        g.span(),
                        "remove this `#[test]`: `geode::test` already adds one",
                    );
                }
                i += 2;
            }
            _ => return fail(toks[i].span(), not_fn),
        }
    }
    if is_ident(toks.get(i), "pub") {
        i += if is_group(toks.get(i + 1), Delimiter::Parenthesis) {
            2
        } else {
            1
        };
    }
    let mut async_at = None;
    let fn_span = loop {
        let Some(TokenTree::Ident(id)) = toks.get(i) else {
            return fail(span_or(toks.get(i), Span::call_site()), not_fn);
        };
        match id.to_string().as_str() {
            "async" => async_at = Some(i),
            "fn" => break id.span(),
            q @ ("const" | "unsafe" | "extern" | "safe") => {
                return fail(
                    id.span(),
                    format!("the function must be a plain `async fn`, not `{q}`"),
                );
            }
            _ => return fail(id.span(), not_fn),
        }
        i += 1;
    };
    let Some(async_at) = async_at else {
        return fail(fn_span, "the function must be `async fn`");
    };
    if !matches!(toks.get(i + 1), Some(TokenTree::Ident(_))) {
        return fail(
            span_or(toks.get(i + 1), fn_span),
            "expected the function's name",
        );
    }
    i += 2;
    if is_punct(toks.get(i), '<') {
        return fail(
            toks[i].span(),
            "the function must not have generic parameters",
        );
    }
    match toks.get(i) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if !g.stream().is_empty() {
                return fail(g.span(), "the function must take no arguments");
            }
        }
        other => return fail(span_or(other, fn_span), "expected the argument list `()`"),
    }
    let last = if toks.len() > i + 1 { toks.pop() } else { None };
    let body = match last {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        other => {
            let msg = "the function must have a body `{ ... }`";
            return fail(span_or(other.as_ref(), fn_span), msg);
        }
    };
    let ret = &toks[i + 1..];
    if let Some(w) = ret.iter().find(|t| is_ident(Some(t), "where")) {
        return fail(w.span(), "the function must not have a `where` clause");
    }
    let has_arrow = is_punct(ret.first(), '-') && is_punct(ret.get(1), '>');
    if let (Some(first), false) = (ret.first(), has_arrow) {
        return fail(
            first.span(),
            "expected `-> ReturnType` or the function body",
        );
    }
    toks.remove(async_at);
    Ok(AsyncFn { sig: toks, body })
}

/// Emits `[#[test]] sig { ::geode::block_on(async move { [pause();] body }) }`.
fn generate(kind: Kind, start_paused: bool, f: AsyncFn) -> TokenStream {
    let mut out = TokenStream::new();
    if kind == Kind::Test {
        out.extend(ts("#[::core::prelude::v1::test]"));
    }
    out.extend(f.sig);
    let body_span = f.body.span();
    let mut fut = ts("async move");
    if start_paused {
        let mut inner = ts("::geode::time::pause();");
        inner.extend([TokenTree::Group(f.body)]);
        let mut g = Group::new(Delimiter::Brace, inner);
        g.set_span(body_span);
        fut.extend([TokenTree::Group(g)]);
    } else {
        fut.extend([TokenTree::Group(f.body)]);
    }
    let mut call = ts("::geode::block_on");
    call.extend([group(Delimiter::Parenthesis, fut)]);
    let mut outer = Group::new(Delimiter::Brace, call);
    outer.set_span(body_span);
    out.extend([TokenTree::Group(outer)]);
    out
}
