#!/usr/bin/python3
"""PyTorch side of LayerBenchmarks: max pooling, batch-norm (training mode) and ReLU, forward and backward, on the same
shapes, in ms and GB/s counted as ConvEngine counts them (one read of each input, one write of each output).

  OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 \\
      /usr/bin/python3 Benchmarks/compare/pytorch_layers.py --threads 2

PyTorch's max pooling stores the argmax indices in its forward and reads them in its backward; ConvEngine's keeps only x
and finds the maxima again. Each figure is the median of --repeats timed calls after --warmup untimed ones.
"""
import argparse
import torch
import torch.nn.functional as F
from pytorch_conv import median_seconds   # the same timing as the convolution comparison (this folder)

SHAPES = [  # name, kind, N, C, H, W (as Benchmarks/LayerBenchmarks.cs)
    ("lenet_pool1", "maxpool2", 64, 6, 28, 28),
    ("vgg_pool", "maxpool2", 4, 128, 112, 112),
    ("resnet_pool", "maxpool3", 8, 64, 112, 112),
    ("resnet_bn", "batchnorm", 8, 64, 56, 56),
    ("resnet_relu", "relu", 8, 64, 56, 56),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    print(f"PyTorch {torch.__version__}, {args.threads} threads")
    print(f"{'shape':<14} {'fwd ms':>8} {'fwd GB/s':>9} {'bwd ms':>8} {'bwd GB/s':>9}")
    for name, kind, n, c, h, w in SHAPES:
        x = torch.randn(n, c, h, w, requires_grad=True)
        if kind == "maxpool2":
            op = lambda t: F.max_pool2d(t, 2, 2)
        elif kind == "maxpool3":
            op = lambda t: F.max_pool2d(t, 3, 2, 1)
        elif kind == "batchnorm":
            bn = torch.nn.BatchNorm2d(c).train()
            op = bn
        else:
            op = torch.relu
        y = op(x)
        dy = torch.randn_like(y)
        in_bytes, out_bytes = 4 * x.numel(), 4 * y.numel()

        def forward():
            with torch.no_grad() if kind == "relu" else torch.enable_grad():
                op(x)

        def backward():
            x.grad = None
            yy = op(x)
            yy.backward(dy)

        fwd = median_seconds(forward, args.warmup, args.repeats)
        both = median_seconds(backward, args.warmup, args.repeats)
        bwd = max(both - fwd, 1e-9)   # the backward call alone: forward + backward minus the forward
        print(f"{name:<14} {fwd * 1e3:8.3f} {(in_bytes + out_bytes) / fwd / 1e9:9.1f} {bwd * 1e3:8.3f} "
              f"{(2 * in_bytes + out_bytes) / bwd / 1e9:9.1f}")


if __name__ == "__main__":
    main()
