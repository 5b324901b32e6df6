#!/usr/bin/env python3
"""Where a hot path's instructions go, by the function they were inlined from.

    python3 benches/inline-costs.py CALLGRIND_OUT BINARY [--depth N] [--under NAME]
                                    [--calls N] [--by-line] [--top N] [--mnemonic PREFIX]

Why: in a release build almost all of headroom's hot path is inlined into one or two physical
functions, so `callgrind_annotate` charges it to `uint_macros.rs`, `cmp.rs` and a few source lines
of the outer function, and "where do the 2 300 instructions of `complete` go" has no answer. This
script reads a callgrind profile made with per-instruction positions, asks `addr2line -i` for the
chain of inlined frames of every executed instruction, and sums the self cost per frame at the
chosen depth of that chain: depth 0 is the physical function, depth 1 what was inlined into it
directly, and so on. `--under NAME` first finds the outermost frame whose name contains NAME and
counts depth from there, so `--under Window::correct --depth 1` splits a window's correction into
its parts. Counts are divided by `--calls` (256, as `benches/icount.sh` runs each path).
`--mnemonic div` counts only the instructions whose mnemonic starts so, `i` prefix allowed
(from `objdump -d`: `div` and `idiv`, of every width), in `BINARY` alone: how many division
instructions a call executes, and where, since one costs tens of cycles for its one instruction.

Making the profile (the path names are benches/icount.sh's):

    cargo build --release -p headroom-benches --bin icount
    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \\
        --toggle-collect='*measured_complete_anthropic_200*' --callgrind-out-file=/tmp/cg \\
        target/release/icount complete_anthropic_200 256
    python3 benches/inline-costs.py /tmp/cg target/release/icount --depth 1

Needs python3 and binutils' addr2line (and objdump for `--mnemonic`); the release profile keeps
line tables (`debug = 1`).
"""

import argparse
import collections
import os
import re
import subprocess


def costs(profile, binary):
    """Self cost per instruction address of `binary`: the lines `0xADDR LINE COST` under an
    `ob=` naming it, except those that follow a `calls=` line (those carry the inclusive cost of
    a call). Cost in other objects (the C library's `memcpy`, the loader) is summed apart: its
    addresses mean nothing in `binary`."""
    cost, elsewhere = collections.Counter(), 0
    after_call, ours = False, True
    names = {}
    with open(profile) as lines:
        for line in lines:
            if line.startswith("ob="):
                # `ob=(3) /path` names object 3; a later `ob=(3)` refers back to it.
                match = re.match(r"^ob=\((\d+)\)\s*(.*)$", line.strip())
                if match:
                    number, path = match.groups()
                    if path:
                        names[number] = path
                    ours = os.path.realpath(names.get(number, "")) == os.path.realpath(binary)
                else:
                    ours = os.path.realpath(line.strip()[3:]) == os.path.realpath(binary)
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            match = re.match(r"^(0x[0-9a-fA-F]+)\s+\S+\s+(\d+)", line)
            if match and not after_call:
                if ours:
                    cost[int(match.group(1), 16)] += int(match.group(2))
                else:
                    elsewhere += int(match.group(2))
            after_call = False
    return cost, elsewhere


def frames(binary, addresses):
    """Per address, its inlined frames (function, file:line), outermost first."""
    if not addresses:
        # With no address on its command line, addr2line would read them from standard input.
        return {}
    out = subprocess.run(
        ["addr2line", "-a", "-i", "-f", "-C", "-e", binary] + [hex(a) for a in addresses],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    chains, current, lines = {}, None, iter(out)
    for line in lines:
        if line.startswith("0x"):
            current = int(line, 16)
            chains[current] = []
        else:
            chains[current].append((line, next(lines, "??:0")))
    return {address: list(reversed(chain)) for address, chain in chains.items()}


def mnemonics(binary):
    """Per instruction address of `binary`, its mnemonic, from `objdump -d`."""
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", binary], capture_output=True, text=True, check=True
    ).stdout
    found = {}
    for line in out.splitlines():
        match = re.match(r"^\s+([0-9a-f]+):\s+(\S+)", line)
        if match:
            found[int(match.group(1), 16)] = match.group(2)
    return found


def short(name):
    """A function's name without generic arguments."""
    while True:
        shorter = re.sub(r"<[^<>]*>", "", name)
        if shorter == name:
            return name
        name = shorter


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("binary")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--under")
    parser.add_argument("--calls", type=int, default=256)
    parser.add_argument("--by-line", action="store_true", help="split each frame by its line")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--mnemonic", help="count only instructions whose mnemonic starts so (or with i and so)"
    )
    args = parser.parse_args()

    cost, elsewhere = costs(args.profile, args.binary)
    if args.mnemonic:
        kinds = mnemonics(args.binary)
        wanted = (args.mnemonic, "i" + args.mnemonic)
        cost = collections.Counter(
            {a: n for a, n in cost.items() if kinds.get(a, "").startswith(wanted)}
        )
        # Other objects' instructions are not disassembled: left out of the count.
        elsewhere = 0
    chains = frames(args.binary, sorted(cost))
    total = collections.Counter()
    for address, chain in chains.items():
        start = 0
        if args.under:
            start = next((i for i, (name, _) in enumerate(chain) if args.under in name), None)
            if start is None:
                continue
        name, place = chain[min(start + args.depth, len(chain) - 1)]
        key = short(name)
        if args.by_line:
            key += "  @" + place.rsplit("/", 1)[-1]
        total[key] += cost[address]
    for key, value in total.most_common(args.top):
        print(f"{value / args.calls:9.1f}  {key}")
    if elsewhere and not args.under:
        print(f"{elsewhere / args.calls:9.1f}  (other objects: the C library, the loader)")
    print(f"{(sum(total.values()) + (0 if args.under else elsewhere)) / args.calls:9.1f}  total")


if __name__ == "__main__":
    main()
