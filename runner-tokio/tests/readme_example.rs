//! The README's example is `examples/counter.rs` word for word (up to its
//! tests), so the tests of that example test what users paste.

#[test]
fn the_readme_example_is_the_counter_example() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/counter.rs");
    let shown = example
        .split("// The README's example ends above")
        .next()
        .unwrap()
        .trim_end();
    assert!(
        readme.contains(&format!("```rust,no_run\n{shown}\n```")),
        "README.md's example differs from runner-tokio/examples/counter.rs:\n{shown}"
    );
}
