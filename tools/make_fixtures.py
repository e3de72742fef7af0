#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that Engine.Tests/Reference/PyTorchFixtureTests.cs compares the engine against.

Run from the repository root with the system python that has torch 1.13:

    /usr/bin/python3 tools/make_fixtures.py

All data (inputs, parameters, buffers, upstream gradients, optimizer gradients) are float32 values drawn on the CPU with
fixed seeds, so reruns give the same files. The arithmetic on them is done in float64 and the results rounded to float32:
the expected values are then the float32-rounded exact results, and the tolerance only has to cover the engine's own
float32 rounding. (With float32 arithmetic in PyTorch too, a gradient that is exactly zero in theory, such as a conv bias
directly before a training-mode batch norm, comes out as PyTorch's rounding noise, which no tolerance can separate from
the engine's different rounding noise.) One JSON file per family is written into
Engine.Tests/Fixtures/pytorch/. A tensor is {"shape": [...], "data": [...]} (row-major, the float32 values written with
the shortest decimal that reads back to the same float32). See tools/README.md for the case layout.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Engine.Tests", "Fixtures", "pytorch")
torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)


def t(x):
    """A tensor as {"shape", "data"} with float32-exact short decimals."""
    a = x.detach().to(torch.float32).cpu().numpy()
    # str(np.float32) is the shortest decimal that reads back to the same float32; json then writes that decimal.
    data = [float(str(v)) for v in a.reshape(-1)]
    return {"shape": list(a.shape), "data": data}


def pair(v):
    return [v, v] if isinstance(v, int) else list(v)


def seeded(seed):
    torch.manual_seed(seed)


# ---------------------------------------------------------------- layers with a forward and a backward pass

def layer_case(name, kind, args, module, x, state_override=None, mode="train"):
    """Runs module on x with a random upstream gradient and records y, dX, every parameter gradient and the buffers after."""
    if state_override:
        with torch.no_grad():
            sd = module.state_dict()
            for k, v in state_override.items():
                sd[k].copy_(v)
    module.train(mode == "train")
    state_before = {k: t(v.to(torch.float32)) for k, v in module.state_dict().items()}
    # The data are float32 values; the arithmetic is float64 (see the module docstring).
    module.double()
    x = x.double().requires_grad_(True)
    y = module(x)
    dy = torch.randn(y.shape).double()
    y.backward(dy)
    case = {
        "name": name,
        "kind": kind,
        "args": args,
        "mode": mode,
        "input": t(x),
        "state": state_before,
        "dy": t(dy),
        "y": t(y),
        "dx": t(x.grad),
        "grads": {k: t(p.grad) for k, p in module.named_parameters()},
    }
    buffers = dict(module.named_buffers())
    if buffers:
        case["buffers_after"] = {k: t(v.to(torch.float32)) for k, v in buffers.items()}
    return case


def conv_cases():
    cases = []

    def conv(name, seed, n, cin, h, w, cout, k, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros"):
        seeded(seed)
        m = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                      padding_mode=padding_mode)
        # Non-default weights so that the bias and weight scales are not PyTorch's init bounds.
        with torch.no_grad():
            m.weight.copy_(torch.randn_like(m.weight) * 0.5)
            if bias:
                m.bias.copy_(torch.randn_like(m.bias) * 0.5)
        x = torch.randn(n, cin, h, w)
        args = {"in_channels": cin, "out_channels": cout, "kernel_size": pair(k), "stride": pair(stride),
                "padding": pair(padding), "dilation": pair(dilation), "groups": groups, "bias": bias,
                "padding_mode": padding_mode}
        cases.append(layer_case(name, "Conv2d", args, m, x))

    conv("conv_3x3_plain", 101, 2, 3, 8, 8, 4, 3)
    conv("conv_3x3_stride2_pad1", 102, 2, 3, 9, 9, 5, 3, stride=2, padding=1)
    conv("conv_3x3_dilation2_pad2", 103, 2, 3, 9, 8, 4, 3, padding=2, dilation=2)
    conv("conv_3x3_groups2", 104, 2, 4, 7, 7, 6, 3, padding=1, groups=2)
    conv("conv_3x3_depthwise", 105, 2, 4, 7, 7, 4, 3, padding=1, groups=4)
    conv("conv_3x3_depthwise_multiplier2", 106, 2, 3, 6, 6, 6, 3, padding=1, groups=3)
    conv("conv_rect_3x5_stride2x1_pad1x2", 107, 2, 3, 8, 7, 4, (3, 5), stride=(2, 1), padding=(1, 2))
    conv("conv_3x3_no_bias", 108, 2, 3, 6, 6, 4, 3, padding=1, bias=False)
    conv("conv_3x3_reflect_pad1", 109, 2, 3, 6, 7, 4, 3, padding=1, padding_mode="reflect")
    conv("conv_3x3_reflect_pad2_stride2", 110, 2, 2, 7, 6, 3, 3, stride=2, padding=2, padding_mode="reflect")
    conv("conv_3x3_replicate_pad1", 111, 2, 3, 6, 7, 4, 3, padding=1, padding_mode="replicate")
    conv("conv_5x5_replicate_pad2", 112, 2, 2, 5, 6, 3, 5, padding=2, padding_mode="replicate")
    conv("conv_1x1_stride2", 113, 2, 4, 7, 8, 5, 1, stride=2)
    conv("conv_odd_7x9_3x3_stride2_pad1", 114, 3, 3, 7, 9, 5, 3, stride=2, padding=1)
    conv("conv_odd_7x9_5x5_no_pad", 115, 2, 2, 7, 9, 3, 5)
    return cases


def pool_cases():
    cases = []

    def add(name, seed, kind, args, module, shape):
        seeded(seed)
        cases.append(layer_case(name, kind, args, module, torch.randn(*shape)))

    add("maxpool_k2", 201, "MaxPool2d", {"kernel_size": 2, "stride": 2, "padding": 0}, nn.MaxPool2d(2), (2, 3, 8, 6))
    add("maxpool_k2_odd", 202, "MaxPool2d", {"kernel_size": 2, "stride": 2, "padding": 0}, nn.MaxPool2d(2), (2, 2, 7, 9))
    add("maxpool_k3_s2_p1", 203, "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1},
        nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 8))
    add("avgpool_k3_s2_p1_include_pad", 204, "AvgPool2d",
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": True},
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True), (2, 3, 9, 8))
    add("avgpool_k3_s2_p1_exclude_pad", 205, "AvgPool2d",
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 9, 8))
    add("avgpool_k2", 206, "AvgPool2d", {"kernel_size": 2, "stride": 2, "padding": 0, "count_include_pad": True},
        nn.AvgPool2d(2), (2, 2, 6, 7))
    add("adaptive_avg_6x6_from_13x13", 207, "AdaptiveAvgPool2d", {"output_size": [6, 6]},
        nn.AdaptiveAvgPool2d((6, 6)), (2, 2, 13, 13))
    add("adaptive_avg_1x1", 208, "AdaptiveAvgPool2d", {"output_size": [1, 1]},
        nn.AdaptiveAvgPool2d((1, 1)), (2, 4, 5, 7))
    add("adaptive_avg_3x2_from_7x5", 209, "AdaptiveAvgPool2d", {"output_size": [3, 2]},
        nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5))
    return cases


def activation_cases():
    cases = []

    def add(name, seed, kind, args, module, shape, scale=2.0):
        seeded(seed)
        cases.append(layer_case(name, kind, args, module, torch.randn(*shape) * scale))

    add("relu", 301, "ReLU", {}, nn.ReLU(), (2, 3, 4, 5))
    add("leaky_relu_0.1", 302, "LeakyReLU", {"negative_slope": 0.1}, nn.LeakyReLU(0.1), (2, 3, 4, 5))
    add("elu_0.7", 303, "ELU", {"alpha": 0.7}, nn.ELU(0.7), (2, 3, 4, 5))
    add("sigmoid", 304, "Sigmoid", {}, nn.Sigmoid(), (2, 3, 4, 5), scale=3.0)
    add("tanh", 305, "Tanh", {}, nn.Tanh(), (2, 3, 4, 5))
    add("relu_2d", 306, "ReLU", {}, nn.ReLU(), (3, 7))
    add("flatten", 307, "Flatten", {}, nn.Flatten(), (2, 3, 4, 5))
    return cases


def linear_cases():
    cases = []

    def add(name, seed, n, fin, fout, bias):
        seeded(seed)
        m = nn.Linear(fin, fout, bias=bias)
        x = torch.randn(n, fin)
        cases.append(layer_case(name, "Linear", {"in_features": fin, "out_features": fout, "bias": bias}, m, x))

    add("linear_bias", 401, 3, 7, 5, True)
    add("linear_no_bias", 402, 4, 6, 3, False)
    add("linear_wide", 403, 2, 33, 17, True)
    return cases


def batchnorm_cases():
    cases = []

    def add(name, seed, kind, shape, eps=1e-5, momentum=0.1, mode="train"):
        seeded(seed)
        c = shape[1]
        m = (nn.BatchNorm2d if kind == "BatchNorm2d" else nn.BatchNorm1d)(c, eps=eps, momentum=momentum)
        override = {
            "weight": 1.0 + 0.5 * torch.randn(c),
            "bias": 0.5 * torch.randn(c),
            "running_mean": 0.5 * torch.randn(c),
            "running_var": 0.5 + torch.rand(c),
        }
        # A non-zero count so that the count update (train) or its absence (eval) is visible.
        override["num_batches_tracked"] = torch.tensor(3, dtype=torch.long)
        x = torch.randn(*shape) * 1.5 + 0.7
        args = {"num_features": c, "eps": eps, "momentum": momentum}
        cases.append(layer_case(name, kind, args, m, x, state_override=override, mode=mode))

    add("bn2d_train", 501, "BatchNorm2d", (4, 3, 5, 5))
    add("bn2d_train_eps1e-3_momentum0.3", 502, "BatchNorm2d", (2, 4, 3, 4), eps=1e-3, momentum=0.3)
    add("bn2d_eval", 503, "BatchNorm2d", (3, 3, 4, 5), mode="eval")
    add("bn1d_train", 504, "BatchNorm1d", (8, 5))
    add("bn1d_train_momentum0.5", 505, "BatchNorm1d", (4, 3), momentum=0.5)
    add("bn1d_eval", 506, "BatchNorm1d", (6, 4), mode="eval")
    add("bn1d_train_3d", 507, "BatchNorm1d", (3, 4, 5))
    add("bn1d_eval_3d", 508, "BatchNorm1d", (2, 3, 6), mode="eval")
    return cases


# ---------------------------------------------------------------- losses

def loss_cases():
    cases = []

    def ce(name, seed, n, c, scale):
        seeded(seed)
        logits = (torch.randn(n, c) * scale).double().requires_grad_(True)
        labels = torch.randint(0, c, (n,))
        loss = F.cross_entropy(logits, labels, reduction="mean")
        loss.backward()
        cases.append({"name": name, "kind": "CrossEntropyLoss", "args": {"reduction": "mean"},
                      "logits": t(logits), "labels": labels.tolist(),
                      "loss": float(loss.item()), "dlogits": t(logits.grad)})

    ce("cross_entropy_random", 601, 4, 10, 1.0)
    ce("cross_entropy_large_logits", 602, 5, 7, 100.0)
    ce("cross_entropy_two_classes", 603, 6, 2, 3.0)

    def mse(name, seed, shape, reduction):
        seeded(seed)
        out = torch.randn(*shape).double().requires_grad_(True)
        target = torch.randn(*shape).double()
        if reduction == "halfsum":
            loss = 0.5 * ((target - out) ** 2).sum()
        else:
            loss = F.mse_loss(out, target, reduction=reduction)
        loss.backward()
        cases.append({"name": name, "kind": "MSELoss", "args": {"reduction": reduction},
                      "output": t(out), "target": t(target),
                      "loss": float(loss.item()), "doutput": t(out.grad)})

    mse("mse_mean", 611, (3, 5), "mean")
    mse("mse_sum", 612, (3, 5), "sum")
    mse("mse_halfsum", 613, (3, 5), "halfsum")
    mse("mse_mean_4d", 614, (2, 3, 2, 2), "mean")
    return cases


# ---------------------------------------------------------------- optimizers

def optim_cases():
    cases = []

    def add(name, seed, kind, args, steps=5):
        seeded(seed)
        params = [nn.Parameter(torch.randn(3, 4).double()), nn.Parameter(torch.randn(5).double())]
        initial = [t(p) for p in params]
        if kind == "SGD":
            opt = torch.optim.SGD(params, lr=args["lr"], momentum=args.get("momentum", 0.0),
                                  dampening=args.get("dampening", 0.0), weight_decay=args.get("weight_decay", 0.0),
                                  nesterov=args.get("nesterov", False))
        elif kind == "Adam":
            opt = torch.optim.Adam(params, lr=args["lr"], betas=(args["beta1"], args["beta2"]), eps=args["eps"],
                                   weight_decay=args["weight_decay"])
        else:
            opt = torch.optim.AdamW(params, lr=args["lr"], betas=(args["beta1"], args["beta2"]), eps=args["eps"],
                                    weight_decay=args["weight_decay"])
        grads, values = [], []
        for _ in range(steps):
            opt.zero_grad()
            g = [torch.randn(p.shape).double() for p in params]
            for p, gi in zip(params, g):
                p.grad = gi.clone()
            opt.step()
            grads.append([t(gi) for gi in g])
            values.append([t(p) for p in params])
        cases.append({"name": name, "kind": kind, "args": args, "params": initial, "grads": grads, "values": values})

    add("sgd_plain", 701, "SGD", {"lr": 0.1})
    add("sgd_momentum0.9", 702, "SGD", {"lr": 0.05, "momentum": 0.9})
    add("sgd_nesterov", 703, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True})
    add("sgd_weight_decay", 704, "SGD", {"lr": 0.1, "weight_decay": 1e-2})
    add("sgd_momentum_weight_decay", 705, "SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2})
    add("sgd_dampening0.1", 706, "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1})
    adam = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    add("adam_default", 711, "Adam", dict(adam, lr=1e-3))
    add("adam_lr1e-2", 712, "Adam", adam)
    add("adam_weight_decay", 713, "Adam", dict(adam, weight_decay=1e-2))
    add("adam_betas", 714, "Adam", dict(adam, beta1=0.8, beta2=0.99, eps=1e-6))
    add("adamw_weight_decay", 721, "AdamW", dict(adam, weight_decay=1e-2))
    add("adamw_strong_decay", 722, "AdamW", dict(adam, lr=5e-2, weight_decay=0.1))
    return cases


# ---------------------------------------------------------------- small networks end to end

def network_cases():
    """nn.Sequential models trained one step: CE loss, dX, every gradient (state_dict names "0.weight", ...), buffers, and
    the parameters after one optimizer step."""
    cases = []

    def layer(kind, **args):
        if kind == "Conv2d":
            full = {"in_channels": args["in_channels"], "out_channels": args["out_channels"],
                    "kernel_size": pair(args["kernel_size"]), "stride": pair(args.get("stride", 1)),
                    "padding": pair(args.get("padding", 0)), "dilation": pair(args.get("dilation", 1)),
                    "groups": args.get("groups", 1), "bias": args.get("bias", True),
                    "padding_mode": args.get("padding_mode", "zeros")}
            m = nn.Conv2d(full["in_channels"], full["out_channels"], tuple(full["kernel_size"]),
                          stride=tuple(full["stride"]), padding=tuple(full["padding"]), dilation=tuple(full["dilation"]),
                          groups=full["groups"], bias=full["bias"], padding_mode=full["padding_mode"])
            return m, full
        if kind == "BatchNorm2d" or kind == "BatchNorm1d":
            full = {"num_features": args["num_features"], "eps": 1e-5, "momentum": 0.1}
            return getattr(nn, kind)(full["num_features"]), full
        if kind == "MaxPool2d":
            full = {"kernel_size": args["kernel_size"], "stride": args.get("stride", args["kernel_size"]),
                    "padding": args.get("padding", 0)}
            return nn.MaxPool2d(full["kernel_size"], full["stride"], full["padding"]), full
        if kind == "AvgPool2d":
            full = {"kernel_size": args["kernel_size"], "stride": args.get("stride", args["kernel_size"]),
                    "padding": args.get("padding", 0), "count_include_pad": args.get("count_include_pad", True)}
            return nn.AvgPool2d(full["kernel_size"], full["stride"], full["padding"],
                                count_include_pad=full["count_include_pad"]), full
        if kind == "AdaptiveAvgPool2d":
            return nn.AdaptiveAvgPool2d(tuple(args["output_size"])), {"output_size": list(args["output_size"])}
        if kind == "Linear":
            full = {"in_features": args["in_features"], "out_features": args["out_features"], "bias": args.get("bias", True)}
            return nn.Linear(full["in_features"], full["out_features"], bias=full["bias"]), full
        if kind == "LeakyReLU":
            return nn.LeakyReLU(args["negative_slope"]), dict(args)
        if kind == "ELU":
            return nn.ELU(args["alpha"]), dict(args)
        return getattr(nn, kind)(), {}

    def add(name, seed, specs, input_shape, classes, mode, opt_kind, opt_args):
        seeded(seed)
        built = [layer(kind, **args) for kind, args in specs]
        model = nn.Sequential(*[m for m, _ in built])
        with torch.no_grad():
            for k, v in model.state_dict().items():
                if k.endswith("running_mean"):
                    v.copy_(0.3 * torch.randn_like(v))
                elif k.endswith("running_var"):
                    v.copy_(0.5 + torch.rand_like(v))
                elif k.endswith("num_batches_tracked"):
                    v.fill_(2)
                elif k.endswith("weight") and v.dim() == 1:  # batch-norm gamma
                    v.copy_(1.0 + 0.3 * torch.randn_like(v))
                elif k.endswith("bias") and "BatchNorm" in type(model[int(k.split(".")[0])]).__name__:
                    v.copy_(0.3 * torch.randn_like(v))
        model.train(mode == "train")
        state = {k: t(v.to(torch.float32)) for k, v in model.state_dict().items()}
        model.double()
        x = torch.randn(*input_shape).double().requires_grad_(True)
        labels = torch.randint(0, classes, (input_shape[0],))
        logits = model(x)
        logits.retain_grad()
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        case = {
            "name": name, "kind": "Sequential", "mode": mode,
            "layers": [{"kind": kind, "args": full} for (kind, _), (_, full) in zip(specs, built)],
            "input": t(x), "labels": labels.tolist(), "state": state,
            "y": t(logits), "loss": float(loss.item()), "dlogits": t(logits.grad), "dx": t(x.grad),
            "grads": {k: t(p.grad) for k, p in model.named_parameters()},
            "buffers_after": {k: t(v.to(torch.float32)) for k, v in model.named_buffers()},
        }
        if opt_kind == "SGD":
            opt = torch.optim.SGD(model.parameters(), lr=opt_args["lr"], momentum=opt_args["momentum"],
                                  weight_decay=opt_args["weight_decay"])
        else:
            opt = torch.optim.Adam(model.parameters(), lr=opt_args["lr"], betas=(opt_args["beta1"], opt_args["beta2"]),
                                   eps=opt_args["eps"], weight_decay=opt_args["weight_decay"])
        opt.step()
        case["optimizer"] = {"kind": opt_kind, "args": opt_args}
        case["params_after_step"] = {k: t(p) for k, p in model.named_parameters()}
        cases.append(case)

    cnn = [
        ("Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}),
        ("BatchNorm2d", {"num_features": 6}),
        ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Conv2d", {"in_channels": 6, "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 2,
                    "bias": False}),
        ("ELU", {"alpha": 0.7}),
        ("AdaptiveAvgPool2d", {"output_size": [2, 2]}),
        ("Flatten", {}),
        ("Linear", {"in_features": 32, "out_features": 10}),
    ]
    add("cnn_train_sgd", 801, cnn, (3, 3, 10, 10), 10, "train", "SGD",
        {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-2})
    cnn2 = [
        ("Conv2d", {"in_channels": 2, "out_channels": 4, "kernel_size": (3, 5), "padding": (1, 2),
                    "padding_mode": "replicate"}),
        ("Tanh", {}),
        ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
        ("Conv2d", {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": 2, "dilation": 2, "groups": 4}),
        ("BatchNorm2d", {"num_features": 4}),
        ("LeakyReLU", {"negative_slope": 0.1}),
        ("Flatten", {}),
        ("Linear", {"in_features": 4 * 4 * 5, "out_features": 6}),
    ]
    add("cnn_eval_adam", 802, cnn2, (2, 2, 7, 9), 6, "eval", "Adam",
        {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2})
    # The first Linear's bias sits before a non-linearity, not directly before the batch norm: there its exact gradient
    # would be zero, the computed one rounding noise, and Adam's first step (±lr·g/|g|) would amplify that noise.
    mlp = [
        ("Linear", {"in_features": 12, "out_features": 16}),
        ("Sigmoid", {}),
        ("BatchNorm1d", {"num_features": 16}),
        ("Linear", {"in_features": 16, "out_features": 5, "bias": False}),
    ]
    add("mlp_bn1d_train_adam", 803, mlp, (6, 12), 5, "train", "Adam",
        {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0})
    return cases


# ---------------------------------------------------------------- the residual (basic) block

class Residual(nn.Module):
    """The engine's Residual: y = ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + (x | conv3(x))), convs with bias, names as the engine."""

    def __init__(self, cin, cout, use_projection, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride, 0) if use_projection else None

    def forward(self, x):
        a = F.relu(self.bn1(self.conv1(x)))
        b = self.bn2(self.conv2(a))
        return F.relu(b + (x if self.conv3 is None else self.conv3(x)))


def residual_cases():
    cases = []

    def add(name, seed, cin, cout, use_projection, stride, shape, mode):
        seeded(seed)
        m = Residual(cin, cout, use_projection, stride)
        override = {}
        for bn in ("bn1", "bn2"):
            override[bn + ".weight"] = 1.0 + 0.3 * torch.randn(cout)
            override[bn + ".bias"] = 0.3 * torch.randn(cout)
            override[bn + ".running_mean"] = 0.3 * torch.randn(cout)
            override[bn + ".running_var"] = 0.5 + torch.rand(cout)
        args = {"in_channels": cin, "out_channels": cout, "use_projection": use_projection, "stride": stride}
        cases.append(layer_case(name, "Residual", args, m, torch.randn(*shape), state_override=override, mode=mode))

    add("residual_identity_train", 901, 3, 3, False, 1, (2, 3, 6, 6), "train")
    add("residual_projection_stride2_train", 902, 3, 4, True, 2, (2, 3, 6, 6), "train")
    add("residual_projection_eval", 903, 4, 6, True, 1, (2, 4, 5, 5), "eval")
    return cases


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    families = {
        "conv2d": conv_cases,
        "pooling": pool_cases,
        "activations": activation_cases,
        "linear": linear_cases,
        "batchnorm": batchnorm_cases,
        "losses": loss_cases,
        "optimizers": optim_cases,
        "networks": network_cases,
        "residual": residual_cases,
    }
    total = 0
    for family, make in families.items():
        cases = make()
        doc = {"generator": "tools/make_fixtures.py", "torch": torch.__version__, "family": family, "cases": cases}
        path = os.path.join(OUT_DIR, family + ".json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        size = os.path.getsize(path)
        total += size
        print(f"{path}: {len(cases)} cases, {size / 1024:.1f} KiB")
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
