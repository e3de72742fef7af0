#!/usr/bin/python3
"""PyTorch twins of ConvEngine's models, used as the reference (never a dependency of the library).

  /usr/bin/python3 tools/pytorch_models.py counts
      prints the parameter counts of the PyTorch twins (the numbers the C# tests state)
  /usr/bin/python3 tools/pytorch_models.py export-lenet OUT_DIR
      trains a LeNet-5 for one short epoch on Fashion-MNIST (or random data when the dataset is absent), writes
      OUT_DIR/lenet5.safetensors (state_dict names as ConvEngine's LeNet5) and OUT_DIR/lenet5_io.safetensors
      (a batch of inputs and the logits PyTorch computes for them in eval mode)
  /usr/bin/python3 tools/pytorch_models.py export-residual OUT_DIR
      writes PyTorch's forward and backward values of the seeds' residual block (identity and projection)
  /usr/bin/python3 tools/pytorch_models.py train --model lenet5|resnet-small [--epochs 10] ...
      trains with the same recipe as `convengine train` and prints test accuracy per epoch

Run with Debian's python3-torch (PyTorch 1.13, CPU).
"""
import argparse, gzip, json, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402


class LeNet5(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, 1, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Residual(nn.Module):
    """The seeds' Residual_block, with ConvEngine's child names."""
    def __init__(self, cin, cout, use_projection=False, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride) if use_projection else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.conv3(x) if self.conv3 is not None else x))


class ResNetSmall(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, width=32):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(in_channels, w, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(w)
        self.layer1 = nn.Sequential(Residual(w, w), Residual(w, w))
        self.layer2 = nn.Sequential(Residual(w, 2 * w, True, 2), Residual(2 * w, 2 * w))
        self.layer3 = nn.Sequential(Residual(2 * w, 4 * w, True, 2), Residual(4 * w, 4 * w))
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ResNet18Seeds(nn.Module):
    """The seeds' MyResNet18 (conv biases included)."""
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = nn.Sequential(Residual(64, 64), Residual(64, 64))
        self.layer2 = nn.Sequential(Residual(64, 128, True, 2), Residual(128, 128))
        self.layer3 = nn.Sequential(Residual(128, 256, True, 2), Residual(256, 256))
        self.layer4 = nn.Sequential(Residual(256, 512, True, 2), Residual(512, 512))
        self.fc = nn.Linear(512, num_classes)


class KerasStyleCnn(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.fc1 = nn.Linear(32 * 13 * 13, 128)
        self.bn = nn.BatchNorm1d(128)
        self.fc2 = nn.Linear(128, num_classes)


def alexnet(num_classes=1000):
    """torchvision's alexnet() structure (torchvision itself is not needed)."""
    m = nn.Module()
    m.features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
    m.classifier = nn.Sequential(nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes))
    return m


def vgg(depth, num_classes=1000):
    """torchvision's vgg11/13/16/19 structure (no batch norm)."""
    convs = {11: [1, 1, 2, 2, 2], 13: [2, 2, 2, 2, 2], 16: [2, 2, 3, 3, 3], 19: [2, 2, 4, 4, 4]}[depth]
    layers, c = [], 3
    for n, w in zip(convs, [64, 128, 256, 512, 512]):
        for _ in range(n):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU()]
            c = w
        layers.append(nn.MaxPool2d(2))
    m = nn.Module()
    m.features = nn.Sequential(*layers)
    m.classifier = nn.Sequential(nn.Linear(25088, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, num_classes))
    return m


def count(m):
    return sum(p.numel() for p in m.parameters())


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_fashion(root="/usr/share/datasets/fashion-mnist"):
    def get(name):
        return read_idx(os.path.join(root, name))
    xtr = get("train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    ytr = get("train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = get("t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    yte = get("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    mean, std = 0.2860, 0.3530
    f = lambda x: torch.from_numpy((x - mean) / std).unsqueeze(1)
    return f(xtr), torch.from_numpy(ytr), f(xte), torch.from_numpy(yte)


def write_safetensors(path, tensors, metadata=None):
    """F32 safetensors through tools/safetensors_io.py (no dependency on the safetensors package)."""
    save_file({k: v.detach().to(torch.float32) for k, v in tensors.items()}, path, metadata)


def export_lenet(out_dir):
    torch.manual_seed(0)
    os.makedirs(out_dir, exist_ok=True)
    model = LeNet5()
    try:
        xtr, ytr, xte, yte = load_fashion()
    except FileNotFoundError:
        xtr, ytr = torch.randn(512, 1, 28, 28), torch.randint(0, 10, (512,))
        xte = torch.randn(16, 1, 28, 28)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for i in range(0, min(len(xtr), 6400), 64):
        opt.zero_grad()
        F.cross_entropy(model(xtr[i:i + 64]), ytr[i:i + 64]).backward()
        opt.step()
    model.eval()
    x = xte[:16].contiguous()
    with torch.no_grad():
        logits = model(x)
    write_safetensors(os.path.join(out_dir, "lenet5.safetensors"), model.state_dict(), {"source": "tools/pytorch_models.py export-lenet"})
    write_safetensors(os.path.join(out_dir, "lenet5_io.safetensors"), {"input": x, "logits": logits})
    print("wrote", out_dir)


def export_residual(out_dir):
    """PyTorch values for the seeds' residual block (train mode): state before, input, upstream, output, every gradient."""
    os.makedirs(out_dir, exist_ok=True)
    for proj, (cin, cout, stride) in ((False, (3, 3, 1)), (True, (3, 4, 2))):
        torch.manual_seed(7 if proj else 3)
        block = Residual(cin, cout, proj, stride)
        for bn in (block.bn1, block.bn2):  # non-trivial affine parameters
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)
        state = {k: v.clone().float() for k, v in block.state_dict().items()}
        x = torch.randn(2, cin, 6, 6, requires_grad=True)
        block.train()
        y = block(x)
        g = torch.randn_like(y)
        y.backward(g)
        out = {"state." + k: v for k, v in state.items()}
        out.update({"x": x.detach(), "upstream": g, "y": y.detach(), "dX": x.grad})
        out.update({"grad." + n: p.grad for n, p in block.named_parameters()})
        out.update({"after." + k: v.float() for k, v in block.state_dict().items() if "running" in k})
        write_safetensors(os.path.join(out_dir, f"residual_{'projection' if proj else 'identity'}.safetensors"), out,
                          {"source": "tools/pytorch_models.py export-residual", "cin": cin, "cout": cout, "stride": stride, "projection": proj})
    print("wrote", out_dir)


def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    xtr, ytr, xte, yte = load_fashion()
    model = LeNet5() if args.model == "lenet5" else ResNetSmall(width=args.width)
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    elif args.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs) if args.schedule == "cosine" else None
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), args.batch_size):
            idx = perm[i:i + args.batch_size]
            opt.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        if sched:
            sched.step()
        dt = time.time() - t0
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(xte), 1000):
                correct += (model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
        print(f"epoch {epoch}: test accuracy {100.0 * correct / len(xte):.2f}%  ({dt:.1f} s)", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["counts", "export-lenet", "export-residual", "train"])
    ap.add_argument("out", nargs="?", default="Engine.Tests/Fixtures/lenet5")
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--width", type=int, default=32)
    a = ap.parse_args()
    if a.command == "counts":
        print("LeNet5(10)", count(LeNet5()))
        print("KerasStyleCnn(10)", count(KerasStyleCnn()))
        print("ResNetSmall(10, width 32)", count(ResNetSmall()))
        print("ResNet18 seeds (1000)", count(ResNet18Seeds()))
        print("ResNet18 seeds (10)", count(ResNet18Seeds(10)))
        print("AlexNet(1000)", count(alexnet()))
        print("AlexNet(10)", count(alexnet(10)))
        for d in (11, 13, 16, 19):
            print(f"VGG{d}(1000)", count(vgg(d)), f"VGG{d}(10)", count(vgg(d, 10)))
    elif a.command == "export-lenet":
        export_lenet(a.out)
    elif a.command == "export-residual":
        export_residual(a.out)
    else:
        train(a)
