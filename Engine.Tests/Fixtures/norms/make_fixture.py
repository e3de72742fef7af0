# Regenerates pytorch_norms_optim.json with PyTorch 1.13:  /usr/bin/python3 make_fixture.py
# Reference values for Engine.Tests/Optim/PyTorchFixtureTests.cs (batch norm, cross-entropy, SGD, Adam, AdamW, grad clipping).
import json
import torch

torch.manual_seed(0)
out = {}
flat = lambda t: [float(v) for v in t.detach().reshape(-1).tolist()]

# BatchNorm2d: two training forwards (running statistics), backward of the second, then an eval forward.
bn = torch.nn.BatchNorm2d(2, eps=1e-5, momentum=0.1)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.5, -0.7]))
    bn.bias.copy_(torch.tensor([0.2, 0.4]))
x1 = torch.randn(3, 2, 2, 3) * 2 + 1
x2 = (torch.randn(3, 2, 2, 3) * 0.5 - 2).requires_grad_()
bn(x1)
y2 = bn(x2)
dy = torch.randn_like(y2)
y2.backward(dy)
bn.eval()
ye = bn(x1)
out["bn"] = dict(shape=list(x1.shape), weight=flat(bn.weight), bias=flat(bn.bias), x1=flat(x1), x2=flat(x2), y2=flat(y2), dy=flat(dy),
                 dx=flat(x2.grad), dweight=flat(bn.weight.grad), dbias=flat(bn.bias.grad),
                 running_mean=flat(bn.running_mean), running_var=flat(bn.running_var), y_eval=flat(ye))

# Cross-entropy with large logits.
logits = (torch.randn(4, 5) * 60).requires_grad_()
labels = torch.tensor([0, 3, 4, 1])
loss = torch.nn.functional.cross_entropy(logits, labels)
loss.backward()
out["ce"] = dict(logits=flat(logits), labels=labels.tolist(), loss=loss.item(), grad=flat(logits.grad))

# Optimizers: one parameter [6], five steps with given gradients.
w0 = torch.randn(6)
grads = [torch.randn(6) for _ in range(5)]
def run(make):
    p = torch.nn.Parameter(w0.clone())
    opt = make([p])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return flat(p)
out["optim"] = dict(w0=flat(w0), grads=[flat(g) for g in grads], results={
    "sgd_nesterov": run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd_dampening": run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3)),
    "adam": run(lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    "adamw": run(lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.5)),
})

# clip_grad_norm_ over two parameters.
a = torch.nn.Parameter(torch.zeros(4)); b = torch.nn.Parameter(torch.zeros(3))
a.grad = torch.randn(4) * 3; b.grad = torch.randn(3) * 3
ga, gb = flat(a.grad), flat(b.grad)
total = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
out["clip"] = dict(a=ga, b=gb, max_norm=1.0, total=float(total), a_clipped=flat(a.grad), b_clipped=flat(b.grad))

with open("pytorch_norms_optim.json", "w") as f:
    json.dump(out, f)
