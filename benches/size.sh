#!/usr/bin/env bash
# Flash and static RAM of headroom on a Cortex-M4F, and the size_of of its main types.
#
#   bash benches/size.sh
#
# Builds benches/size (a no_std, no_main program using a Policy<4, 32>: acquire, complete with a
# parsed Anthropic header snapshot, backoff) for thumbv7em-none-eabihf at opt-level "s" with fat
# LTO, twice (headroom with only the Anthropic header dialect, then with every dialect), then
# prints for both:
#   * flash = .vector_table + .text + .rodata (+ .data, whose initial image is stored in flash too)
#   * static RAM = .data + .bss (+ .uninit)
#   * the POLICY static's own size on the target
#   * the 20 largest symbols of the Anthropic-only build (with an nm)
#   * `cargo run -p headroom --example sizes` (size_of on the host, x86-64)
# Section sizes come from llvm-size, arm-none-eabi-size or rust-size when one is installed, else
# from the ELF section headers read by a few lines of python3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target=thumbv7em-none-eabihf
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target}"

if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
fi

elf="$CARGO_TARGET_DIR/$target/release/headroom-size"

# Prints "name size" for every section of the ELF.
sections() {
    local tool
    for tool in llvm-size arm-none-eabi-size rust-size; do
        if command -v "$tool" >/dev/null 2>&1; then
            "$tool" -A "$1" | awk 'NR > 2 && NF >= 2 && $1 != "Total" { print $1, $2 }'
            return
        fi
    done
    python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 1, "expected a 32-bit ELF"
end = "<" if data[5] == 1 else ">"
shoff, = struct.unpack_from(end + "I", data, 0x20)
shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
def header(i):
    return struct.unpack_from(end + "IIIIIIIIII", data, shoff + i * shentsize)
names_off = header(shstrndx)[4]
for i in range(1, shnum):
    h = header(i)
    name = data[names_off + h[0]:].split(b"\0", 1)[0].decode()
    print(name, h[5])
PY
}

# The size of the POLICY static, or nothing without an nm.
policy_size() {
    local nm policy_hex
    for nm in llvm-nm arm-none-eabi-nm rust-nm; do
        if command -v "$nm" >/dev/null 2>&1; then
            policy_hex=$("$nm" -S -C "$1" | awk '/POLICY/ && !seen { print $2; seen = 1 }')
            [ -n "$policy_hex" ] && echo $((16#$policy_hex))
            return
        fi
    done
}

# The largest code and read-only data symbols of the ELF, "bytes name" (hash suffixes cut),
# largest first; nothing without an nm.
largest_symbols() {
    local nm
    for nm in llvm-nm arm-none-eabi-nm rust-nm; do
        if command -v "$nm" >/dev/null 2>&1; then
            "$nm" -S -C --size-sort --radix=d "$1" |
                awk '$3 ~ /^[tTrR]$/ { size = $2 + 0; $1 = $2 = $3 = ""; sub(/^ +/, ""); print size, $0 }' |
                sed -E 's/::h[0-9a-f]{16}$//' |
                sort -rn | awk -v n="$2" 'NR <= n'
            return
        fi
    done
}

# Builds the size program with the given cargo flags and sets, for that build:
# vectors text rodata data bss uninit policy_bytes.
measure() {
    (cd "$here/size" && cargo build --release --quiet "$@")
    local sizes
    sizes="$(sections "$elf")"
    get() { awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' <<<"$sizes"; }
    vectors=$(get .vector_table)
    text=$(get .text)
    rodata=$(get .rodata)
    data=$(get .data)
    bss=$(get .bss)
    uninit=$(get .uninit)
    policy_bytes="$(policy_size "$elf")"
}

# Two builds: headroom with only the Anthropic header dialect, then with every dialect (the
# crate's default). Each row prints both.
measure
a_symbols="$(largest_symbols "$elf" 20)"
a_flash=$((text + rodata)); a_image=$((vectors + text + rodata + data)); a_ram=$((data + bss + uninit))
a_policy=$policy_bytes
a_sections=".vector_table $vectors, .text $text, .rodata $rodata, .data $data, .bss $bss, .uninit $uninit"
measure --features all-dialects
flash=$((text + rodata)); image=$((vectors + text + rodata + data)); ram=$((data + bss + uninit))
sections_all=".vector_table $vectors, .text $text, .rodata $rodata, .data $data, .bss $bss, .uninit $uninit"

echo "## headroom on $target (benches/size, opt-level \"s\", lto = \"fat\")"
echo
echo "| what | Anthropic only (\`--no-default-features --features anthropic\`) | every dialect (default) |"
echo "|---|---|---|"
echo "| flash: .text + .rodata | $a_flash | $flash |"
echo "| flash image: .vector_table + .text + .rodata + .data | $a_image | $image |"
echo "| static RAM: .data + .bss + .uninit | $a_ram | $ram |"
if [ -n "$policy_bytes" ]; then
    echo "| of which \`static POLICY: Policy<4, 32>\` | $a_policy | $policy_bytes |"
fi
echo
echo "sections, Anthropic only: $a_sections"
echo "sections, every dialect: $sections_all"
if [ -n "$a_symbols" ]; then
    echo
    echo "largest symbols, Anthropic only (bytes; the size program's main loop has acquire,"
    echo "headers::parse and complete inlined into it):"
    echo
    sed 's/^/    /' <<<"$a_symbols"
fi
echo
echo "## size_of on the host ($(uname -m))"
echo
(cd "$here/.." && cargo run --quiet -p headroom --example sizes)
