#!/bin/sh
# The first build command of each component in spin.toml: makes sure the Rust toolchain this tree
# uses can build for wasm32-wasip2 before `cargo build --target wasm32-wasip2` runs.
#
# rustup installs the targets that rust-toolchain.toml names only when it installs the toolchain
# itself; a machine that already has Rust 1.95.0 without the target needs it added here. Run from
# any folder of the tree: rustup picks the toolchain from rust-toolchain.toml.
set -eu
target=wasm32-wasip2

sysroot=$(rustc --print sysroot)
if [ -d "$sysroot/lib/rustlib/$target/lib" ]; then
    exit 0
fi
if ! command -v rustup >/dev/null 2>&1; then
    echo "error: the Rust standard library for $target is not installed in $sysroot," >&2
    echo "and there is no rustup to add it. Install it for this toolchain (with rustup:" >&2
    echo "'rustup target add $target'), or use a Rust toolchain that has it, then build again." >&2
    exit 1
fi
echo "hookah: adding the $target target to the toolchain (rustup target add $target)" >&2
rustup target add "$target"
