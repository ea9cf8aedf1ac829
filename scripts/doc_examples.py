#!/usr/bin/env python3
"""Doc examples that a user of a driver crate sees must paste into their crate.

The drivers (`runner-tokio`, `runner-async-std`) re-export runner-core's
host API, so the rustdoc of those items — examples included — is what a
driver's user reads. Their crate depends on the driver and its runtime, not
on `runner-core`: an example line that names `runner_core` does not build
there. runner-core's doctests cannot catch it (runner-core is in scope in
its own doctests), so this script reads the sources.

Usage:
  scripts/doc_examples.py check         exit 1 listing every visible doc-example
                                        line that names `runner_core` outside the
                                        allowlist below
  scripts/doc_examples.py emit DRIVER   print, as Markdown, every doc example of
                                        runner-core/src/host and of the driver that
                                        names DRIVER (`runner_tokio`) and no crate a
                                        user lacks: tests/external includes them as
                                        its doctests, so they are compiled in a
                                        crate with only that driver and its runtime

A doc example line is "visible" unless rustdoc hides it (`# ` or a lone
`#`). A doc comment belongs to the top-level item it precedes, or whose
body (an `impl` or `trait` block) it is in; `//!` comments belong to the
module (`<module>`).
"""
import os
import re
import sys

ROOTS = ["runner-core/src/host", "runner-tokio/src", "runner-async-std/src"]

# Items whose docs a driver's user never sees, so their examples may (and,
# to compile, must) name `runner_core`: they are for driver authors and are
# not re-exported by the drivers (`runner_core::host::api` is the list of
# what is). Keys are paths relative to the repository root; values are
# top-level item names in that file, "<module>" for its `//!` docs, or "*"
# for the whole file.
ALLOWLIST = {
    # The `Runtime` trait and its plumbing (`ConnectRequest`, `Socket`,
    # `Inbound`, `Outbound`): what a driver implements. `BoxError` in the
    # same file IS re-exported, so it is not listed.
    "runner-core/src/host/runtime.rs": {
        "<module>", "Runtime", "ConnectRequest", "Socket", "Inbound", "Outbound",
    },
    # Socket glue for drivers built on tungstenite (feature `tungstenite`).
    "runner-core/src/host/tungstenite.rs": {"*"},
    # The in-memory runtime that plays the engine in runner-core's own
    # tests; users get the driver's `testing` kit instead.
    "runner-core/src/host/testing.rs": {"*"},
    # How a driver crate is made: `api`'s module docs (not inlined by the
    # drivers' glob re-export `pub use runner_core::host::api::*`) and the
    # `driver_api!` macro a driver calls.
    "runner-core/src/host/api.rs": {"<module>", "driver_api"},
}

# Crates a user of a driver has: the driver, its runtime, std. An emitted
# example naming anything else (a dev-dependency of runner-core such as
# axum or http-body-util) is left to runner-core's own doctests.
FOREIGN = re.compile(
    r"(?<!::)\b(runner_core|axum|http_body_util|proptest|criterion|tungstenite|serde|futures|hyper)::"
)
# The crate each driver is, and its sources (their own doctests run in the
# driver, where its dev-dependencies are in scope: a user has none of them).
DRIVERS = {"runner_tokio": "runner-tokio/src", "runner_async_std": "runner-async-std/src"}

ITEM = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?(?:async\s+)?(?:const\s+(?=fn))?"
    r"(fn|struct|enum|trait|type|mod|const|static|union|macro_rules!)\s*(\w+)"
)
IMPL = re.compile(r"^\s*(?:unsafe\s+)?impl\b(.*)")
DOC = re.compile(r"^\s*(///|//!)(.*)$")
NON_RUST_FENCES = {"text", "sh", "bash", "console", "toml", "json", "sql", "md", "markdown", "plain"}


def impl_name(rest):
    """The self type's name of `impl<...> [Trait for] Type<...> {`."""
    rest = rest.split("{")[0].split(" where ")[0]
    # Drop the impl's generic parameters (balanced angle brackets).
    if rest.lstrip().startswith("<"):
        depth, i, s = 0, 0, rest.lstrip()
        for i, c in enumerate(s):
            depth += {"<": 1, ">": -1}.get(c, 0)
            if depth == 0:
                break
        rest = s[i + 1:]
    if " for " in rest:
        rest = rest.split(" for ", 1)[1]
    names = re.findall(r"[A-Za-z_]\w*", rest.split("<")[0])
    return names[-1] if names else "?"


def code_braces(line):
    line = line.split("//")[0]
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.count("{") - line.count("}")


def examples(path):
    """Yield (item, start_line, fence_info, [(line_no, code_line)]) per example."""
    lines = open(path, encoding="utf-8").read().splitlines()
    depth = 0
    top = None
    i = 0
    while i < len(lines):
        m = DOC.match(lines[i])
        if not m:
            if depth == 0:
                im, mm = IMPL.match(lines[i]), ITEM.match(lines[i])
                if im:
                    top = impl_name(im.group(1))
                elif mm:
                    top = mm.group(2)
            depth += code_braces(lines[i])
            i += 1
            continue
        kind = m.group(1)
        block = []
        while i < len(lines):
            d = DOC.match(lines[i])
            if not d or d.group(1) != kind:
                break
            block.append((i + 1, d.group(2)))
            i += 1
        if kind == "//!":
            owner = "<module>"
        elif depth > 0:
            owner = top
        else:
            # The item this comment documents: the next line that is not an attribute.
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("#["):
                j += 1
            nxt = lines[j] if j < len(lines) else ""
            im, mm = IMPL.match(nxt), ITEM.match(nxt)
            owner = impl_name(im.group(1)) if im else (mm.group(2) if mm else "?")
        yield from fenced(owner, block)


def fenced(owner, block):
    code, info, start = None, None, None
    for no, text in block:
        t = text[1:] if text.startswith(" ") else text
        stripped = t.strip()
        if stripped.startswith("```"):
            if code is None:
                info = stripped[3:].strip()
                code, start = [], no
            else:
                langs = {w.strip() for w in info.split(",") if w.strip()}
                if not (langs & NON_RUST_FENCES):
                    yield owner, start, info, code
                code = None
            continue
        if code is not None:
            code.append((no, t))


def visible(code_line):
    s = code_line.strip()
    return not (s == "#" or s.startswith("# "))


def rust_files():
    for root in ROOTS:
        for d, _, fs in os.walk(root):
            for f in sorted(fs):
                if f.endswith(".rs"):
                    yield os.path.join(d, f)


def allowed(path, owner):
    names = ALLOWLIST.get(path, set())
    return "*" in names or owner in names


def check():
    bad = 0
    for path in rust_files():
        for owner, _, _, code in examples(path):
            if allowed(path, owner):
                continue
            for no, line in code:
                if visible(line) and "runner_core" in line:
                    print(f"{path}:{no}: ({owner}) {line.strip()}")
                    bad += 1
    if bad:
        print(
            f"\n{bad} visible doc-example line(s) name `runner_core` in docs a driver's user reads:"
            "\nwrite them as that user (`use runner_tokio::…`), or, for an item only driver authors"
            "\nsee, add it to ALLOWLIST in scripts/doc_examples.py with the reason.",
            file=sys.stderr,
        )
        return 1
    return 0


def emit(driver):
    out = []
    for path in rust_files():
        if not (path.startswith("runner-core/") or path.startswith(DRIVERS[driver])):
            continue
        for owner, start, info, code in examples(path):
            body = "\n".join(line for _, line in code)
            others = any(other in body for other in DRIVERS if other != driver)
            if allowed(path, owner) or driver not in body or others or FOREIGN.search(body):
                continue
            out.append(f"`{path}:{start}` ({owner}):\n\n```{info}\n{body}\n```\n")
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if sys.argv[1:2] == ["check"]:
        sys.exit(check())
    if sys.argv[1:2] == ["emit"] and len(sys.argv) == 3 and sys.argv[2] in DRIVERS:
        sys.exit(emit(sys.argv[2]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
