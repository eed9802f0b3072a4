// The torch-free description of models (spec, timm layout, metadata keys) is used throughout the engine.
global using WaveMesh.Models;
