"""Guest instructions executed, from a qemu-user log written with `-d in_asm,exec,nochain`.

`in_asm` prints each translation block once (its guest instructions, one per line, each
starting with its address); `exec` with `nochain` prints one "Trace" line per execution of a
block, naming the block's guest pc. The count is the sum, over executions, of the block's
instructions. A block that ends early (an exception) would be over-counted by its tail; the
programs counted here (tests/c/one_fill.c) raise none.

    python3 tools/qemu_insns.py LOG         prints the instruction count
Used by ci/aarch64.sh for the instructions-per-element figures in docs/benchmarks.md.
"""
import re
import sys

_TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
_INSN = re.compile(r"^0x([0-9a-f]+):\s")


def count(lines):
    sizes = {}     # block pc -> guest instructions (the latest translation)
    block, n = None, 0
    total = 0
    for line in lines:
        m = _INSN.match(line)
        if m:
            if block is None:
                block, n = int(m.group(1), 16), 0
            n += 1
            continue
        if block is not None:
            sizes[block] = n
            block = None
        m = _TRACE.match(line)
        if m:
            total += sizes[int(m.group(1), 16)]
    return total


if __name__ == "__main__":
    with open(sys.argv[1], errors="replace") as f:
        print(count(f))
