"""One MPyC party of ``secure_sum_vs_mpyc.py``: input a vector, add all inputs, open the sum.

Started three times by the benchmark, as ``python benchmarks/_mpyc_party.py -M3 -I{i}
-B{port} -L32 --count N --seed S --result result-{i}.npy`` (``-M``, ``-I``, ``-B`` and ``-L``
are MPyC's own options: number of parties, this party's index, base port, bit length of
the secure fixed-point numbers). The party makes its vector
with the benchmark's own generator, connects (``mpc.start``), then times, from connection
to opened result: the conversion of its floats into a secure fixed-point array (scaled and
rounded with numpy, then made a field array: MPyC's fastest path), the input
(Shamir sharing to the other parties), the element-wise sum and the output. It saves the
opened sum to ``--out`` and prints one JSON line with its timings.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from mpyc.runtime import mpc  # parses and removes MPyC's own options from sys.argv

from secure_sum_vs_mpyc import FRAC_BITS, party_values


async def run(n: int, seed: int, bit_length: int) -> tuple[np.ndarray, dict[str, float]]:
    secfxp = mpc.SecFxp(bit_length, FRAC_BITS)
    mine = party_values(seed, mpc.pid, n)
    await mpc.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    # encode with numpy (round half to even, as privstats' FixedPoint) straight into MPyC's
    # field array: faster than secfxp.array(floats), which rounds value by value in Python
    scaled = np.rint(mine * (1 << FRAC_BITS)).astype(np.int64)
    secret = secfxp.array(secfxp.field.array(scaled), integral=False)
    inputs = mpc.input(secret)  # one secure array per party
    total = inputs[0]
    for other in inputs[1:]:
        total = total + other
    opened = await mpc.output(total)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await mpc.shutdown()
    return np.asarray(opened, dtype=np.float64), {"seconds": seconds, "cpu_seconds": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # names chosen so that MPyC's own parser (abbreviations allowed) does not claim them
    parser.add_argument("--count", type=int, required=True, help="length of each vector")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--result", required=True, help="where to save the opened sum (.npy)")
    args = parser.parse_args()
    opened, timings = mpc.run(run(args.count, args.seed, mpc.options.bit_length))
    np.save(args.result, opened)
    print(json.dumps({"party": mpc.pid, **timings}), flush=True)


if __name__ == "__main__":
    main()
