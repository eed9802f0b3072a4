#!/usr/bin/env python3
"""Test accuracy of a timm hub folder (config.json + model.safetensors) on Fashion-MNIST, with PyTorch alone.

No WaveMesh code and no timm: the ViT forward pass is timm's VisionTransformer (timm/models/vision_transformer.py:
patch embedding, class token or mean pooling, pre-norm blocks with LayerNorm eps 1e-6, exact GELU) written out with
torch.nn.functional, and everything about the model comes from config.json: model_args for its shape, pretrained_cfg
for the input normalisation. safetensors is parsed by hand (8-byte header length, JSON header, raw little-endian data).

    evaluate_timm_folder.py FOLDER [FASHION_MNIST_FOLDER]   ->  prints {"accuracy": ..., "examples": ...}
"""
import gzip
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float32))
    return tensors


def read_idx(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            raw = open(path, "rb").read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            dims = raw[3]
            shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
            return np.frombuffer(raw[4 + 4 * dims:], dtype=np.uint8).reshape(shape)
    raise FileNotFoundError(os.path.join(folder, name))


def forward(w, args, x):
    d, heads, p = args["embed_dim"], args["num_heads"], args["patch_size"]
    x = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=p)
    x = x.flatten(2).transpose(1, 2)                                   # B, patches, D
    token = args.get("class_token", True)
    if token:
        x = torch.cat([w["cls_token"].expand(x.shape[0], -1, -1), x], dim=1)
    x = x + w["pos_embed"]
    for i in range(args["depth"]):
        b = f"blocks.{i}."
        h = F.layer_norm(x, (d,), w[b + "norm1.weight"], w[b + "norm1.bias"], eps=1e-6)
        B, N, _ = h.shape
        qkv = F.linear(h, w[b + "attn.qkv.weight"], w[b + "attn.qkv.bias"]).reshape(B, N, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (d // heads) ** -0.5
        h = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, d)
        x = x + F.linear(h, w[b + "attn.proj.weight"], w[b + "attn.proj.bias"])
        h = F.layer_norm(x, (d,), w[b + "norm2.weight"], w[b + "norm2.bias"], eps=1e-6)
        h = F.gelu(F.linear(h, w[b + "mlp.fc1.weight"], w[b + "mlp.fc1.bias"]))
        x = x + F.linear(h, w[b + "mlp.fc2.weight"], w[b + "mlp.fc2.bias"])
    if args["global_pool"] == "token":
        x = F.layer_norm(x, (d,), w["norm.weight"], w["norm.bias"], eps=1e-6)[:, 0]
    else:
        x = F.layer_norm(x[:, 1 if token else 0:].mean(dim=1), (d,), w["fc_norm.weight"], w["fc_norm.bias"], eps=1e-6)
    return F.linear(x, w["head.weight"], w["head.bias"])


def main():
    folder = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    config = json.load(open(os.path.join(folder, "config.json")))
    args, cfg = config["model_args"], config["pretrained_cfg"]
    weights = read_safetensors(os.path.join(folder, "model.safetensors"))
    images = torch.from_numpy(read_idx(data, "t10k-images-idx3-ubyte").astype(np.float32) / 255.0)
    labels = torch.from_numpy(read_idx(data, "t10k-labels-idx1-ubyte").astype(np.int64))
    channels, size = cfg["input_size"][0], cfg["input_size"][1]
    images = images.reshape(-1, channels, size, size)
    mean = torch.tensor(cfg["mean"]).reshape(1, channels, 1, 1)
    std = torch.tensor(cfg["std"]).reshape(1, channels, 1, 1)
    images = (images - mean) / std
    correct = 0
    with torch.no_grad():
        for start in range(0, images.shape[0], 500):
            logits = forward(weights, args, images[start:start + 500])
            correct += int((logits.argmax(dim=1) == labels[start:start + 500]).sum())
    print(json.dumps({"accuracy": correct / images.shape[0], "examples": int(images.shape[0])}))


if __name__ == "__main__":
    main()
