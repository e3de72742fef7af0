#!/usr/bin/python3
"""PyTorch side of the Conv2d comparison: the reference shapes, forward and backward, GFLOP/s.

Run it twice with the same thread count as ConvEngine's benchmarks, out of the box and tuned (glibc told to reuse
freed memory, OpenBLAS kept to one thread so it does not fight PyTorch's threads):

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 Benchmarks/compare/pytorch_conv.py --threads 2 --label "out of the box"
  OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 \
      /usr/bin/python3 Benchmarks/compare/pytorch_conv.py --threads 2 --label tuned

Flops are counted as ConvEngine's benchmarks count them: forward 2·N·Cout·OH·OW·Cin·K², backward (dX + dW + db) twice that.
Each figure is the median of --repeats timed calls after --warmup untimed ones.
"""
import argparse, json, statistics, time
import torch

SHAPES = [  # name, N, Cin, H, W, Cout, k, stride, pad
    ("lenet_c1", 64, 1, 28, 28, 6, 5, 1, 2),
    ("lenet_c2", 64, 6, 14, 14, 16, 5, 1, 0),
    ("resnet_stem", 8, 3, 224, 224, 64, 7, 2, 3),
    ("resnet_l1", 8, 64, 56, 56, 64, 3, 1, 1),
    ("resnet_l2", 8, 128, 28, 28, 128, 3, 1, 1),
    ("resnet_l3", 8, 256, 14, 14, 256, 3, 1, 1),
    ("resnet_l4", 8, 512, 7, 7, 512, 3, 1, 1),
    ("resnet_down", 8, 64, 56, 56, 128, 1, 2, 0),
    ("vgg_l1", 4, 64, 112, 112, 128, 3, 1, 1),
]


def median_seconds(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--label", default="")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--cases", default="", help="comma-separated shape names to keep (default: all)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rows = []
    print(f"PyTorch {torch.__version__}, {a.threads} threads {a.label}")
    print(f"{'shape':<12} {'fwd ms':>8} {'fwd GF/s':>9} {'bwd ms':>8} {'bwd GF/s':>9}")
    keep = set(filter(None, a.cases.split(",")))
    for name, n, cin, h, w, cout, k, s, p in SHAPES:
        if keep and name not in keep:
            continue
        conv = torch.nn.Conv2d(cin, cout, k, s, p)
        x = torch.randn(n, cin, h, w, requires_grad=True)
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        flops = 2.0 * n * cout * oh * ow * cin * k * k
        with torch.no_grad():
            fwd = median_seconds(lambda: conv(x), a.warmup, a.repeats)
        y = conv(x)
        g = torch.randn_like(y)
        bwd = median_seconds(lambda: torch.autograd.grad(y, [x, conv.weight, conv.bias], g, retain_graph=True), a.warmup, a.repeats)
        rows.append({"shape": name, "forward_ms": fwd * 1e3, "forward_gflops": flops / fwd / 1e9,
                     "backward_ms": bwd * 1e3, "backward_gflops": 2 * flops / bwd / 1e9})
        r = rows[-1]
        print(f"{name:<12} {r['forward_ms']:8.2f} {r['forward_gflops']:9.1f} {r['backward_ms']:8.2f} {r['backward_gflops']:9.1f}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "label": a.label, "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
